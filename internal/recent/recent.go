// Package recent keeps the most recent entries of a log in bounded memory:
// the fakes' request and connection logs, which a lab under load for hours
// (a drill, a soak) would otherwise grow without end.
package recent

// Log holds the last Max entries added, oldest first. Adding is amortised
// O(1): the backing array grows to twice Max, then the newest Max entries
// are copied into a fresh one, so no entry is moved more than once per Max
// additions and the dropped ones can be collected. Not safe for concurrent
// use: callers hold their own lock, as they do for the rest of their state.
type Log[T any] struct {
	Max   int // entries kept; 0 keeps nothing
	items []T
	first int // index of the oldest kept entry in items
}

// Add appends e, dropping the oldest entry beyond Max.
func (l *Log[T]) Add(e T) {
	if l.Max <= 0 {
		return
	}
	if len(l.items) == 2*l.Max {
		fresh := make([]T, l.Max, 2*l.Max)
		copy(fresh, l.items[len(l.items)-l.Max:])
		l.items, l.first = fresh, 0
	}
	l.items = append(l.items, e)
	if len(l.items)-l.first > l.Max {
		var zero T
		l.items[l.first] = zero // let it be collected before the next copy
		l.first++
	}
}

// Len is the number of entries kept.
func (l *Log[T]) Len() int { return len(l.items) - l.first }

// All returns the kept entries, oldest first; the slice is the caller's.
func (l *Log[T]) All() []T { return append([]T(nil), l.items[l.first:]...) }

// Newest calls fn on the kept entries from the newest back until fn returns
// true; fn may change the entry in place.
func (l *Log[T]) Newest(fn func(*T) bool) {
	for i := len(l.items) - 1; i >= l.first; i-- {
		if fn(&l.items[i]) {
			return
		}
	}
}
