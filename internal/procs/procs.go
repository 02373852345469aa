// Package procs lists processes from /proc and tells, later, which of them
// are still running: how tests prove that nothing a lab started outlives
// its Close. A process is identified by its pid and its start time, so a
// pid the system hands to a new program is not mistaken for the old one.
package procs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Proc is one process as seen at a moment.
type Proc struct {
	Pid     int
	Start   uint64 // start time in clock ticks since boot (/proc/PID/stat field 22)
	Cmdline string
}

func (p Proc) String() string {
	c := p.Cmdline
	if len(c) > 120 {
		c = c[:120] + "..."
	}
	return fmt.Sprintf("%d %s", p.Pid, c)
}

// Matching lists the running processes (this one excepted) for which keep
// returns true, given each one's pid, parent pid and command line.
func Matching(keep func(pid, ppid int, cmdline string) bool) []Proc {
	self := os.Getpid()
	var out []Proc
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		st, ok := stat(pid)
		if !ok || st.exited {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cmd := strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		if keep(pid, st.ppid, cmd) {
			out = append(out, Proc{Pid: pid, Start: st.start, Cmdline: cmd})
		}
	}
	return out
}

// Mentioning lists the running processes whose command line contains s.
func Mentioning(s string) []Proc {
	return Matching(func(_, _ int, cmd string) bool { return strings.Contains(cmd, s) })
}

// Descendants lists the running processes under pid (children, their
// children, ...).
func Descendants(pid int) []Proc {
	all := Matching(func(int, int, string) bool { return true })
	parent := map[int]int{}
	for _, p := range all {
		if st, ok := stat(p.Pid); ok {
			parent[p.Pid] = st.ppid
		}
	}
	var out []Proc
	for _, p := range all {
		for q, hops := parent[p.Pid], 0; q != 0 && hops < 64; q, hops = parent[q], hops+1 {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// Alive returns those of ps still running: same pid, same start time, and
// not exited (a zombie whose threads have all ended has exited).
func Alive(ps []Proc) []Proc {
	var out []Proc
	for _, p := range ps {
		if st, ok := stat(p.Pid); ok && st.start == p.Start && !st.exited {
			out = append(out, p)
		}
	}
	return out
}

// Running reports whether pid exists and has not exited. A zombie has
// exited (it only waits to be reaped), unless its main thread alone ended
// while other threads still run and hold its files and sockets.
func Running(pid int) bool {
	st, ok := stat(pid)
	return pid > 0 && ok && !st.exited
}

type procStat struct {
	ppid   int
	start  uint64
	exited bool
}

func stat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// pid (comm) state ppid ... : comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procStat{}, false
	}
	var st procStat
	st.ppid, _ = strconv.Atoi(f[1])
	st.start, _ = strconv.ParseUint(f[19], 10, 64) // field 22 overall
	if f[0] == "Z" || f[0] == "X" {
		// A zombie main thread with other threads still running has not
		// exited: those threads hold its files and sockets.
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		st.exited = err != nil || len(tasks) <= 1
	}
	return st, true
}
