import { describe, expect, it } from 'vitest';
import { DEFAULT_RESTART_KEYWORDS, readSettings, settingsKey, settingsProblems, writeSettings } from './BotSettings';

describe('chatbot settings in metadata', () => {
  it('reads the defaults from empty or hand-written metadata', () => {
    expect(readSettings(null)).toEqual({ sessionTimeoutMinutes: null, sessionTimeoutMessage: '', restartKeywords: DEFAULT_RESTART_KEYWORDS, handoffKeywords: [], handoffNodeId: null });
    expect(readSettings({ sessionTimeoutMinutes: '30', sessionTimeoutMessage: 7, restartKeywords: ['menu', 7], handoffNodeId: 3 })).toEqual({
      sessionTimeoutMinutes: null,
      sessionTimeoutMessage: '',
      restartKeywords: ['menu'],
      handoffKeywords: [],
      handoffNodeId: null,
    });
  });

  it('writes only what differs from the defaults and keeps the other keys', () => {
    const metadata = { editor: { zoom: 2 }, sessionTimeoutMinutes: 30, handoffKeywords: ['agent'] };
    const written = writeSettings(metadata, { sessionTimeoutMinutes: null, sessionTimeoutMessage: '  ', restartKeywords: [...DEFAULT_RESTART_KEYWORDS], handoffKeywords: ['human'], handoffNodeId: 'team' });
    expect(written).toEqual({ editor: { zoom: 2 }, handoffKeywords: ['human'], handoffNodeId: 'team' });
    // no restart keywords at all is a choice, not the default
    expect(writeSettings({}, { ...readSettings({}), restartKeywords: [] })).toEqual({ restartKeywords: [] });
    expect(settingsKey({ restartKeywords: ['restart', 'start over'] })).toEqual(settingsKey({}));
    expect(settingsKey({ handoffKeywords: ['agent'] })).not.toEqual(settingsKey({}));
    const notice = writeSettings({ sessionTimeoutMinutes: 30 }, { ...readSettings({ sessionTimeoutMinutes: 30 }), sessionTimeoutMessage: 'Welcome back!' });
    expect(notice).toEqual({ sessionTimeoutMinutes: 30, sessionTimeoutMessage: 'Welcome back!' });
    expect(readSettings(notice).sessionTimeoutMessage).toBe('Welcome back!');
  });

  it('says what the server would refuse', () => {
    const fine = readSettings({ handoffKeywords: ['agent'] });
    expect(settingsProblems(fine)).toEqual([]);
    expect(settingsProblems({ ...fine, handoffKeywords: ['Start  Over'] })[0]).toMatch(/both restart the chatbot and hand off/);
    expect(settingsProblems({ ...fine, sessionTimeoutMinutes: 0 })[0]).toMatch(/above 0/);
    expect(settingsProblems({ ...fine, handoffKeywords: Array.from({ length: 21 }, (_, i) => `k${i}`) })[0]).toMatch(/At most 20 hand-off/);
    expect(settingsProblems({ ...fine, restartKeywords: ['x'.repeat(101)] })[0]).toMatch(/at most 100 characters/);
    expect(settingsProblems({ ...fine, sessionTimeoutMessage: 'x'.repeat(1025) })[0]).toMatch(/at most 1,024 characters/);
  });
});
