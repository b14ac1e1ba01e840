import { classifyInboundText } from './inbound-keyword';

describe('classifyInboundText', () => {
  it.each(['STOP', 'stop', ' Stop ', 'STOPALL', 'unsubscribe', 'Cancel', 'END', 'quit', 'revoke', 'OptOut', 'STOP.', 'stop!', 'Stop\n'])('%j opts out', (text) => {
    expect(classifyInboundText(text)).toBe('STOP');
  });

  it.each(['OPT OUT', 'Opt out', 'opt-out', 'Opt-Out.', 'opt  out', 'Opt – out', 'STOP ALL', 'Stop all!', 'stop?', 'STOP,', 'Stop;', 'stop:', 'Unsubscribe!!', 'Stop...', 'STOP…', 'S T O P'])(
    '%j opts out: spaces and hyphens inside the keyword and trailing punctuation are folded away',
    (text) => {
      expect(classifyInboundText(text)).toBe('STOP');
    },
  );

  it.each(['ＳＴＯＰ', 'ｓｔｏｐ', 'Ｓｔｏｐ！', 'STOP🙏', '🛑 stop', 'STOP ❤️', 'STOP 👍🏽', '"STOP"', '(stop)', '¡STOP!', '*Cancel*', 'S\u200bTOP', '\u200bstop\u200d', 'STOP\u2060', '\u00adEND', '\uFEFFquit', 'ＵＮＳＵＢＳＣＲＩＢＥ', 'ｏｐｔ－ｏｕｔ'])(
    '%j opts out: full-width forms, invisible characters and decoration around the keyword are folded away',
    (text) => {
      expect(classifyInboundText(text)).toBe('STOP');
    },
  );

  // Cyrillic Ѕ Т О Р and Greek Τ Ο Ρ (and small letters drawn the same) read as STOP.
  it.each([
    ['\u0405\u0422\u041E\u0420', 'ЅТОР: all four letters Cyrillic'],
    ['S\u0422\u041E\u0420', 'SТОР: Latin S, Cyrillic Т О Р'],
    ['ST\u041EP', 'STОP: Cyrillic О'],
    ['STO\u0420', 'STOР: Cyrillic Р'],
    ['S\u03A4\u039F\u03A1', 'SΤΟΡ: Greek Τ Ο Ρ'],
    ['S\u03A4OP!', 'SΤOP!: Greek Τ'],
    ['\u0455t\u043E\u0440', 'ѕtор: Cyrillic small ѕ о р'],
    ['st\u03BFp', 'stοp: Greek small ο'],
    ['\u0421\u0410N\u0421\u0415L', 'САNСЕL: Cyrillic С А С Е'],
    ['\u0415ND', 'ЕND: Cyrillic Е'],
    ['\u0395\u039DD', 'ΕΝD: Greek Ε Ν'],
    ['QUI\u0422', 'QUIТ: Cyrillic Т'],
    ['\u0405\u0422\u041E\u0420 \u0410LL', 'ЅТОР АLL'],
    ['un\u0455ub\u0455\u0441ribe', 'unѕubѕсribe: Cyrillic small ѕ с'],
    ['\u041E\u0420\u0422-\u041EUT', 'ОРТ-ОUT'],
    ['REV\u041EKE', 'REVОKE'],
    ['\u00AB\u0405\u0422\u041E\u0420\u00BB', '«ЅТОР»: decoration around it as for a Latin STOP'],
  ])('%j opts out: look-alike Cyrillic and Greek letters are read as Latin (%s)', (text) => {
    expect(classifyInboundText(text)).toBe('STOP');
  });

  // Only the opt-out is read through look-alikes: an opt-in or a help request
  // in them is not the keyword, and real words of the other script stay replies.
  it.each([
    ['\u0405\u0422\u0410R\u0422', 'ЅТАRТ'],
    ['\u0423\u0415\u0405', 'УЕЅ'],
    ['\u0443\u0435\u0455', 'уеѕ'],
    ['\u041D\u0415L\u0420', 'НЕLР'],
    ['\u0397\u0395L\u03A1', 'ΗΕLΡ'],
    ['\u0456nf\u043E', 'іnfо'],
    ['\u0441\u0442\u043E\u043F', 'стоп (Russian, no look-alike of STOP)'],
    ['\u0421\u0422\u041E', 'СТО (Russian "hundred")'],
    ['\u0422\u043E\u0440', 'Тор (Russian "Thor": TOP, not STOP)'],
    ['\u0421\u043F\u0430\u0441\u0438\u0431\u043E', 'Спасибо (Russian "thank you")'],
    ['\u0415\u0420\u0410\u0422\u041E', 'ЕРАТО'],
    ['\u03C3\u03C4\u03BF\u03C0', 'στοπ (Greek small letters not drawn like stop)'],
    ['\u0405\u0422\u041E\u0420 \u0438\u0442', 'ЅТОР ит: a sentence, not a keyword'],
  ])('%j is not a keyword (%s)', (text) => {
    expect(classifyInboundText(text)).toBeNull();
  });

  it.each(['ＳＴＡＲＴ', 'Ｙｅｓ', 'st\u200bart', 'UNSTOP\u200b!', '\uFEFFstart', 'ＨＥＬＰ', 'ｉｎｆｏ'])('%j: START and HELP are folded the same way (NFKC, invisible characters, case)', (text) => {
    expect(classifyInboundText(text)).not.toBeNull();
  });

  it.each(['START', 'unstop', 'Yes'])('%j opts back in', (text) => {
    expect(classifyInboundText(text)).toBe('START');
  });

  it.each([' help ', 'INFO', 'info.'])('%j asks for help', (text) => {
    expect(classifyInboundText(text)).toBe('HELP');
  });

  // An opt-in is never over-applied: the loose folding is the opt-out's only.
  it.each(['stop it please', 'STOPP', 'yes please', 'thanks', '', 'information', 'opt out of what?', 'yes?', 'Start?', 'y e s', 'Un-stop', 'help?', 'ｓｔｏｐ ｉｔ ｐｌｅａｓｅ', 'stop\u200b sending me deals', 'ＳＴＡＲＴ？', 'yes\u200b?', 'START 🙏', 'STOP 2', 'STOPS'])('%j is an ordinary reply', (text) => {
    expect(classifyInboundText(text)).toBeNull();
  });
});
