/** Where a workflow's time went, from its history: each activity type's total time from started to completed. */
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** An event's time in seconds since the epoch. */
export function eventSeconds(e: HistoryEvent): number {
  return Number(e.eventTime?.seconds ?? 0) + (e.eventTime?.nanos ?? 0) / 1e9;
}

/**
 * Seconds per activity type, summed over its completed attempts (started → completed; a retried attempt counts only
 * the last start). With one worker slot the activities run one after another, so wall − the sum is the time spent
 * between activities: workflow tasks, scheduling and queueing.
 */
export function activitySecondsByType(events: HistoryEvent[]): Record<string, number> {
  const typeOf = new Map<number, string>();
  const startedAt = new Map<number, number>();
  const byType: Record<string, number> = {};
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes)
      typeOf.set(Number(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
    if (e.activityTaskStartedEventAttributes)
      startedAt.set(Number(e.activityTaskStartedEventAttributes.scheduledEventId), eventSeconds(e));
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const sid = Number(done.scheduledEventId);
      const type = typeOf.get(sid) ?? '?';
      byType[type] = (byType[type] ?? 0) + eventSeconds(e) - (startedAt.get(sid) ?? eventSeconds(e));
    }
  }
  return byType;
}
