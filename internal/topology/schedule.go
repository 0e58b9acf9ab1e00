package topology

import "time"

// covers reports whether the window holds minute m of the day (0..1439).
// From is inclusive and To exclusive; a window whose To is not after its From
// wraps past midnight.
func (w Window) covers(m int) bool {
	from, to := int(w.From), int(w.To)
	if from < to {
		return from <= m && m < to
	}
	return m >= from || m < to
}

// minuteRuns returns the stretches of the day where in holds, as [start, end)
// pairs; a stretch running through midnight is one pair with start > end.
func minuteRuns(in func(minute int) bool) [][2]ClockTime {
	var runs [][2]ClockTime
	for m := range minutesPerDay {
		switch {
		case !in(m):
		case len(runs) > 0 && runs[len(runs)-1][1] == ClockTime(m):
			runs[len(runs)-1][1]++
		default:
			runs = append(runs, [2]ClockTime{ClockTime(m), ClockTime(m + 1)})
		}
	}
	if last := len(runs) - 1; last > 0 && runs[0][0] == 0 && runs[last][1] == minutesPerDay {
		runs[0][0] = runs[last][0]
		runs = runs[:last]
	}
	return runs
}

// WindowAt returns the follow-the-sun window in force at now, the window that
// follows it, and when that one starts. The next window may name the same
// region (a schedule can split a region's day). All three are zero when the
// topology has no schedule.
func (t *Topology) WindowAt(now time.Time) (current, next Window, nextStart time.Time) {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	minute := int(now.Sub(day) / time.Minute)
	i, ok := t.windowCovering(minute)
	if !ok {
		return Window{}, Window{}, time.Time{}
	}
	current = t.Schedule[i]
	end := int(current.To) % minutesPerDay
	nextStart = day.Add(time.Duration(end) * time.Minute)
	if !nextStart.After(now) {
		nextStart = nextStart.Add(24 * time.Hour)
	}
	if j, ok := t.windowCovering(end); ok {
		next = t.Schedule[j]
	}
	return current, next, nextStart
}

func (t *Topology) windowCovering(minute int) (int, bool) {
	for i, w := range t.Schedule {
		if w.From != w.To && w.covers(minute) {
			return i, true
		}
	}
	return 0, false
}
