package recent

import (
	"slices"
	"testing"
)

func TestLogKeepsTheLastMaxInOrder(t *testing.T) {
	l := Log[int]{Max: 3}
	for i := 1; i <= 10; i++ {
		l.Add(i)
		want := []int{}
		for j := max(1, i-2); j <= i; j++ {
			want = append(want, j)
		}
		if got := l.All(); !slices.Equal(got, want) || l.Len() != len(want) {
			t.Fatalf("after %d adds: %v (len %d), want %v", i, got, l.Len(), want)
		}
	}
	if cap(l.items) > 2*l.Max {
		t.Errorf("backing array grew to %d, bound is %d", cap(l.items), 2*l.Max)
	}
	for i := l.first; i > 0; i-- {
		if l.items[i-1] != 0 {
			t.Errorf("dropped entry at %d still referenced: %d", i-1, l.items[i-1])
		}
	}
}

func TestLogNewestUpdatesInPlace(t *testing.T) {
	l := Log[int]{Max: 4}
	for i := 1; i <= 6; i++ {
		l.Add(i * 10)
	}
	var seen []int
	l.Newest(func(v *int) bool {
		seen = append(seen, *v)
		if *v == 40 {
			*v = 41
			return true
		}
		return false
	})
	if !slices.Equal(seen, []int{60, 50, 40}) {
		t.Errorf("visited %v, want newest first down to the match", seen)
	}
	if got := l.All(); !slices.Equal(got, []int{30, 41, 50, 60}) {
		t.Errorf("after the update: %v", got)
	}
	var none Log[int]
	none.Add(1)
	if none.Len() != 0 {
		t.Error("Max 0 keeps nothing")
	}
}

// Memory stays bounded however many entries go through.
func TestLogBoundedUnderLongUse(t *testing.T) {
	l := Log[[]byte]{Max: 100}
	for i := 0; i < 100_000; i++ {
		l.Add(make([]byte, 16))
	}
	if l.Len() != 100 || cap(l.items) > 200 {
		t.Errorf("len %d cap %d after 100,000 adds: want 100 kept in at most 200", l.Len(), cap(l.items))
	}
}
