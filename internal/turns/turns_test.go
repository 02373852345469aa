package turns

import (
	"path/filepath"
	"testing"
	"time"
)

func TestSecondTakerWaitsForTheFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, waited, err := take(path)
	if err != nil {
		t.Fatal(err)
	}
	if waited != 0 {
		t.Errorf("first taker waited %v", waited)
	}
	got := make(chan time.Duration, 1)
	go func() {
		// A second open file description: flock excludes it as it would
		// another process.
		u, w, err := take(path)
		if err != nil {
			t.Error(err)
			got <- -1
			return
		}
		u()
		got <- w
	}()
	select {
	case w := <-got:
		t.Fatalf("second taker got the lock while the first held it (waited %v)", w)
	case <-time.After(300 * time.Millisecond):
	}
	unlock()
	select {
	case w := <-got:
		if w < 300*time.Millisecond {
			t.Errorf("second taker reports waiting %v, expected at least the 300 ms the first held it", w)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second taker still waiting 10 s after the first released the lock")
	}
}
