import { describe, expect, it } from 'vitest';
import { ApiError, errorMessage } from './client';

describe('errorMessage', () => {
  it('says which value was refused and why, not only that the request was not valid', () => {
    const refused = new ApiError(422, 'validation_error', 'The request is not valid.', [
      { field: 'customerPhoneNumber', message: 'must start with + and the country code, e.g. +14155550123', type: 'value_error' },
    ]);
    expect(errorMessage(refused)).toBe(
      'The request is not valid. customerPhoneNumber: must start with + and the country code, e.g. +14155550123',
    );
  });

  it('keeps it short when many values were refused, and copes with odd details', () => {
    const many = new ApiError(422, 'validation_error', 'Bad.', [
      { field: 'a', message: '1' },
      { field: '', message: 'whole body' },
      'not an object',
      { field: 'c', message: '3' },
      { field: 'd', message: '4' },
    ]);
    expect(errorMessage(many)).toBe('Bad. a: 1; whole body; c: 3 (and 1 more)');
    expect(errorMessage(new ApiError(404, 'not_found', 'No such chatbot.'))).toBe('No such chatbot.');
  });

  it('says an id in the address is wrong instead of naming the path parameter', () => {
    const bad = new ApiError(422, 'validation_error', 'The request is not valid.', [
      { field: 'path.chatbotId', message: 'Input should be a valid UUID, invalid character: found `n` at 0' },
    ]);
    expect(errorMessage(bad)).toBe('There is nothing at this address: the link is not complete or not right.');
  });

  it("says the server cannot be reached instead of the browser's 'Failed to fetch'", () => {
    for (const words of ['Failed to fetch', 'NetworkError when attempting to fetch resource.', 'Load failed'])
      expect(errorMessage(new TypeError(words))).toBe('The server cannot be reached. Check that it is running, then try again.');
    expect(errorMessage(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(
      "Cannot read properties of undefined (reading 'id')",
    );
  });
});
