import { classifyInboundText } from './inbound-keyword';

describe('classifyInboundText', () => {
  it.each(['STOP', 'stop', ' Stop ', 'STOPALL', 'unsubscribe', 'Cancel', 'END', 'quit', 'STOP.', 'stop!', 'Stop\n'])('%j opts out', (text) => {
    expect(classifyInboundText(text)).toBe('STOP');
  });

  it.each(['START', 'unstop', 'Yes'])('%j opts back in', (text) => {
    expect(classifyInboundText(text)).toBe('START');
  });

  it('HELP is its own keyword', () => {
    expect(classifyInboundText(' help ')).toBe('HELP');
  });

  it.each(['stop it please', 'STOPP', 'yes please', 'thanks', '', 'S T O P'])('%j is an ordinary reply', (text) => {
    expect(classifyInboundText(text)).toBeNull();
  });
});
