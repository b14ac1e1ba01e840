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
