package probe

import (
	"context"
	"time"
)

// timeSource is where a pacer reads the time and waits: the real clock in
// runs, a fake in tests, so that pacing is tested exactly and at once.
type timeSource interface {
	Now() time.Time
	// SleepUntil waits until t; false when ctx ended first.
	SleepUntil(ctx context.Context, t time.Time) bool
}

// realTime is the system's clock, with one timer reused for every wait:
// a pacer that waits for each probe allocates nothing per probe.
type realTime struct{ timer *time.Timer }

func (*realTime) Now() time.Time { return time.Now() }

func (r *realTime) SleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	if r.timer == nil {
		r.timer = time.NewTimer(d)
	} else {
		r.timer.Reset(d)
	}
	select {
	case <-r.timer.C:
		return true
	case <-ctx.Done():
		r.timer.Stop()
		return false
	}
}

// pacer spaces sends on an absolute schedule: the k'th leaves at start +
// k·interval. A sender held up (a busy CPU, a slow wakeup, a long wait for
// a reply) catches up at full speed, so the count over a second stays
// right; with maxLag set it never owes more than that, so a long stall is
// not made up by a flood afterwards. Scan, ping and connect mode all pace
// with it.
type pacer struct {
	clock    timeSource
	start    time.Time
	interval time.Duration
	maxLag   time.Duration // 0: no limit
}

func newPacer(clock timeSource, interval, maxLag time.Duration) *pacer {
	if clock == nil {
		clock = &realTime{}
	}
	return &pacer{clock: clock, start: clock.Now(), interval: interval, maxLag: maxLag}
}

// wait blocks until send number k is due; false when ctx ended first.
func (p *pacer) wait(ctx context.Context, k uint64) bool {
	due := p.start.Add(time.Duration(k) * p.interval)
	now := p.clock.Now()
	if due.After(now) {
		return p.clock.SleepUntil(ctx, due)
	}
	if behind := now.Sub(due); p.maxLag > 0 && behind > p.maxLag {
		p.start = p.start.Add(behind - p.maxLag)
	}
	return ctx.Err() == nil
}

// now is the pacer's clock's time.
func (p *pacer) now() time.Time { return p.clock.Now() }

// sleepCtx waits d, or less if wake is closed first (a nil wake never
// is); false if ctx was cancelled first.
func sleepCtx(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-ctx.Done():
		return false
	}
	return true
}
