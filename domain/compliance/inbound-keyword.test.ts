import { classifyInboundText } from './inbound-keyword';

describe('classifyInboundText', () => {
  it.each(['STOP', 'stop', ' Stop ', 'STOPALL', 'unsubscribe', 'Cancel', 'END', 'quit', 'revoke', 'OptOut', 'STOP.', 'stop!', 'Stop\n'])('%j opts out', (text) => {
    expect(classifyInboundText(text)).toBe('STOP');
  });

  it.each(['START', 'unstop', 'Yes'])('%j opts back in', (text) => {
    expect(classifyInboundText(text)).toBe('START');
  });

  it.each([' help ', 'INFO', 'info.'])('%j asks for help', (text) => {
    expect(classifyInboundText(text)).toBe('HELP');
  });

  it.each(['stop it please', 'STOPP', 'yes please', 'thanks', '', 'S T O P', 'information'])('%j is an ordinary reply', (text) => {
    expect(classifyInboundText(text)).toBeNull();
  });
});
