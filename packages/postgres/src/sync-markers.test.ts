import { describe, expect, test } from 'vitest';
import { SyncMarkers } from './sync-markers.js';

const settled = async (promise: Promise<void>) => {
  let state = 'pending';
  promise.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return state;
};

describe('sync markers', () => {
  test('a marker arriving releases its syncs and those of every marker before it, not after', async () => {
    const markers = new SyncMarkers();
    const [first, second, third] = [markers.add(), markers.add(), markers.add()];
    expect(markers.arrived(second.text)).toBe(true);
    expect(await settled(first.arrived)).toBe('resolved');
    expect(await settled(second.arrived)).toBe('resolved');
    expect(await settled(third.arrived)).toBe('pending');
  });

  test("another feed's marker, or a forged one, releases nothing", async () => {
    const ours = new SyncMarkers();
    const theirs = new SyncMarkers();
    const marker = ours.add();
    theirs.add();
    expect(ours.arrived(theirs.add().text)).toBe(false);
    expect(ours.arrived(`${marker.text.split(':')[0]}:999`)).toBe(false);
    expect(ours.arrived('not a marker')).toBe(false);
    expect(await settled(marker.arrived)).toBe('pending');
  });

  test('a gap releases every marker; a close rejects them; a marker that could not be written rejects its own', async () => {
    const markers = new SyncMarkers();
    const released = markers.add();
    markers.releaseAll();
    expect(await settled(released.arrived)).toBe('resolved');
    const unwritten = markers.add();
    const waiting = markers.add();
    markers.failed(unwritten, new Error('no connection'));
    expect(await settled(unwritten.arrived)).toBe('rejected');
    markers.rejectAll(new Error('closed'));
    expect(await settled(waiting.arrived)).toBe('rejected');
  });
});
