package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clkTck is USER_HZ, the unit of the CPU times in /proc/<pid>/stat and
// /proc/stat. Linux fixes it at 100 in its userspace ABI.
const clkTck = 100

// procStat is what ajpbench reads from /proc/<pid>/stat.
type procStat struct {
	pid, ppid, pgrp int
	state           byte
	comm            string
	utime, stime    uint64 // clock ticks, all threads
	cutime, cstime  uint64 // clock ticks of reaped children
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// comm may hold spaces and parentheses: it ends at the last ')'.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open || end+2 > len(b) {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[end+2:]))
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: only %d fields", pid, len(f)+2)
	}
	num := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
	// f[0] is field 3 of proc(5): state, ppid, pgrp, …, utime (14), stime,
	// cutime, cstime (17).
	return procStat{
		pid: pid, ppid: int(num(1)), pgrp: int(num(2)), state: f[0][0], comm: string(b[open+1 : end]),
		utime: num(11), stime: num(12), cutime: num(13), cstime: num(14),
	}, nil
}

// allProcs reads the stat of every process on the machine.
func allProcs() []procStat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := make([]procStat, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readProcStat(pid); err == nil {
			out = append(out, st)
		}
	}
	return out
}

// processTree is root and every process of procs (allProcs) whose parent
// or process group is root: Apache's children are forked by the parent and
// stay in its group.
func processTree(procs []procStat, root int) []procStat {
	var out []procStat
	for _, p := range procs {
		if p.pid == root || p.ppid == root || p.pgrp == root {
			out = append(out, p)
		}
	}
	return out
}

// treeTicks is the CPU time used so far by root's process tree, in clock
// ticks: utime+stime of every live member plus root's cutime+cstime, so a
// child reaped during a measurement still counts (its time moves to the
// parent's cutime/cstime when it is reaped). procs is one allProcs reading.
func treeTicks(procs []procStat, root int) uint64 {
	var sum uint64
	for _, p := range processTree(procs, root) {
		if p.state == 'Z' {
			continue // a zombie's time reaches the parent when it is reaped
		}
		sum += p.utime + p.stime
		if p.pid == root {
			sum += p.cutime + p.cstime
		}
	}
	return sum
}

// systemBusyTicks is the machine's user+nice+system time from /proc/stat
// (guest time is part of user). Interrupt and softirq time is left out: it
// is not charged to any process either.
func systemBusyTicks() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 4 || f[0] != "cpu" {
		return 0
	}
	var sum uint64
	for _, s := range f[1:4] {
		v, _ := strconv.ParseUint(s, 10, 64)
		sum += v
	}
	return sum
}

// statusKB returns a "Name:  N kB" value from a /proc/<pid> file, in bytes.
func statusKB(path, name string) uint64 {
	fs := strings.Fields(firstValue(path, name)) // "1234 kB"
	if len(fs) == 0 {
		return 0
	}
	v, _ := strconv.ParseUint(fs[0], 10, 64)
	return v * 1024
}

// memSample is the memory of a process tree at one moment.
type memSample struct {
	rss, pss uint64 // bytes, summed over the processes
	procs    int
}

func sampleTree(root int) (memSample, []int) {
	var s memSample
	var pids []int
	for _, p := range processTree(allProcs(), root) {
		if p.state == 'Z' {
			continue
		}
		dir := "/proc/" + strconv.Itoa(p.pid)
		s.rss += statusKB(dir+"/status", "VmRSS")
		s.pss += statusKB(dir+"/smaps_rollup", "Pss")
		s.procs++
		pids = append(pids, p.pid)
	}
	return s, pids
}

// memPeak samples root's process tree every interval until ctx ends and
// returns the peaks of the sums of VmRSS and of Pss. seen is called with the
// pids of each sample (for the check that nothing is left at the end).
func memPeak(ctx context.Context, root int, interval time.Duration, seen func([]int)) func() memSample {
	var (
		mu   sync.Mutex
		peak memSample
		done = make(chan struct{})
	)
	take := func() {
		s, pids := sampleTree(root)
		seen(pids)
		mu.Lock()
		peak.rss, peak.pss = max(peak.rss, s.rss), max(peak.pss, s.pss)
		peak.procs = max(peak.procs, s.procs)
		mu.Unlock()
	}
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		take()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				take()
			}
		}
	}()
	return func() memSample {
		<-done
		take() // the end of the run
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// voluntarySwitches is how often the threads of pid gave up the CPU to
// wait (voluntary_ctxt_switches in /proc/<pid>/task/*/status): for a JVM,
// each time a poller or worker thread found no work and parked. Threads
// that exit take their counts with them.
func voluntarySwitches(pid int) uint64 {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var sum uint64
	for _, e := range ents {
		n, _ := strconv.ParseUint(firstValue(dir+"/"+e.Name()+"/status", "voluntary_ctxt_switches"), 10, 64)
		sum += n
	}
	return sum
}
