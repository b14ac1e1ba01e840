import { buyerPhoneList, buyerPhones, type OrderPhoneFields } from './buyer-phones';

const none: OrderPhoneFields = { orderPhone: null, customerPhone: null, billing: null, shipping: null };

describe('buyerPhones', () => {
  it("reads the order's and the customer's number first, both, in E.164; the addresses then are not read", () => {
    const b = buyerPhones({
      orderPhone: '+1 (201) 555-0123',
      customerPhone: '+44 20 7946 0958',
      billing: { phone: '+12015550199', countryCode: 'US' },
      shipping: { phone: '+12015550198', countryCode: 'US' },
    });
    expect(b).toEqual({ order: '+12015550123', customer: '+442079460958', billing: null, shipping: null });
    expect(buyerPhoneList(b)).toEqual(['+12015550123', '+442079460958']);
  });

  it('reads a national number in the country of its address; the buyer\'s own numbers in the billing country, else the shipping one', () => {
    expect(buyerPhones({ ...none, billing: { phone: '020 7946 0958', countryCode: 'gb' }, shipping: { phone: '(201) 555-0123', countryCode: 'US' } })).toEqual({
      order: null, customer: null, billing: '+442079460958', shipping: '+12015550123',
    });
    expect(buyerPhones({ ...none, orderPhone: '(201) 555-0123', shipping: { phone: null, countryCode: 'US' } }).order).toBe('+12015550123');
    expect(buyerPhones({ ...none, orderPhone: '020 7946 0958', billing: { phone: null, countryCode: 'GB' }, shipping: { phone: null, countryCode: 'US' } }).order).toBe('+442079460958');
  });

  it('drops what is not a valid number, never guessing a country, and then reads the addresses', () => {
    expect(buyerPhones({ ...none, orderPhone: '(201) 555-0123' })).toEqual({ order: null, customer: null, billing: null, shipping: null });
    const b = buyerPhones({ orderPhone: 'call me', customerPhone: '+12015550123 ext. 4', billing: { phone: '555', countryCode: 'XX' }, shipping: { phone: '+12015550123', countryCode: null } });
    expect(b).toEqual({ order: null, customer: null, billing: null, shipping: '+12015550123' });
    expect(buyerPhoneList({ order: '+12015550123', customer: '+12015550123', billing: null, shipping: null })).toEqual(['+12015550123']);
  });
});
