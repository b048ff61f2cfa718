package evidence

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Verifier checks a whole log from its raw stored contents, fed in log
// order: every entry, every batch of stored hashes and every checkpoint.
// It recomputes the tree from the entries alone and trusts nothing else.
// It is not safe for concurrent use.
type Verifier struct {
	origin string
	key    note.Verifier

	n         int64      // entries seen
	hashes    hashList   // stored hashes recomputed from the entries
	checked   int64      // stored hashes compared with storage
	lastCP    Checkpoint // latest checkpoint seen
	cps       int
	erased    []int64         // entries whose payload is erased
	erasedBy  map[int64]int64 // target -> erasure entry
	mismatch  []int64         // payload commitment mismatches
	problems  []Problem
	warnings  []string
	maxReport int
}

// Problem is one verification failure, located at an entry index (or -1
// when it concerns the log as a whole).
type Problem struct {
	Index int64  `json:"index"`
	What  string `json:"what"`
}

func (p Problem) String() string {
	if p.Index < 0 {
		return p.What
	}
	return fmt.Sprintf("entry %d: %s", p.Index, p.What)
}

// Report is the result of a verification.
type Report struct {
	Entries     int64     `json:"entries"`
	Checkpoints int       `json:"checkpoints"`
	TreeSize    int64     `json:"tree_size"`
	Root        tlog.Hash `json:"root"`
	Erased      []int64   `json:"erased"`
	Problems    []Problem `json:"problems"`
	Warnings    []string  `json:"warnings"`
}

// OK reports whether the log verified.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Summary is a one-line account of the report.
func (r *Report) Summary() string {
	if r.OK() {
		return fmt.Sprintf("ok: %d entries, %d signed checkpoints, root %s at size %d, %d erased payloads, all consistent", r.Entries, r.Checkpoints, r.Root, r.TreeSize, len(r.Erased))
	}
	return fmt.Sprintf("FAILED: %s (%d problems in all)", r.Problems[0], len(r.Problems))
}

// NewVerifier returns a verifier for a log with the given origin and
// checkpoint key.
func NewVerifier(origin string, key note.Verifier) *Verifier {
	return &Verifier{origin: origin, key: key, erasedBy: map[int64]int64{}, maxReport: 100}
}

func (v *Verifier) fail(i int64, format string, args ...any) {
	if len(v.problems) < v.maxReport {
		v.problems = append(v.problems, Problem{Index: i, What: fmt.Sprintf(format, args...)})
	}
}

// Warn records something an expert should know that is not tampering.
func (v *Verifier) Warn(format string, args ...any) {
	v.warnings = append(v.warnings, fmt.Sprintf(format, args...))
}

// Fail records a problem found by the caller while reading storage.
func (v *Verifier) Fail(i int64, format string, args ...any) { v.fail(i, format, args...) }

// EntryCheck is the part of an entry's verification that needs no other
// entry. CheckEntry computes it; it is safe to run concurrently, and
// Verifier.Add takes the results in log order.
type EntryCheck struct {
	leaf      tlog.Hash
	headerErr error
	erased    bool
	payloadOK bool
	// erasure is the target of an erasure entry, -1 if none, -2 if the
	// erasure payload is malformed.
	erasure int64
}

// CheckEntry decodes e's header and checks its payload commitment.
func CheckEntry(e Entry) EntryCheck { return checkEntry(e, nil) }

// CheckEntries checks entries in order, like CheckEntry on each; a batch's
// entries share one time, which it validates once.
func CheckEntries(es []Entry) []EntryCheck {
	out := make([]EntryCheck, len(es))
	var t timeCache
	for i, e := range es {
		out[i] = checkEntry(e, &t)
	}
	return out
}

// timeCache remembers the last header time found valid.
type timeCache struct{ valid string }

func checkEntry(e Entry, tc *timeCache) EntryCheck {
	c := EntryCheck{leaf: LeafHash(e.Header), erased: e.Erased, erasure: -1}
	h, err := decodeHeader(e.Header, tc)
	if err != nil {
		c.headerErr = err
		return c
	}
	if e.Erased {
		return c
	}
	c.payloadOK = Commit(e.Salt, e.Payload) == h.Commitment
	if h.Kind == ErasureKind {
		var req ErasureRequest
		if err := json.Unmarshal(e.Payload, &req); err != nil || req.Index < 0 {
			c.erasure = -2
		} else {
			c.erasure = req.Index
		}
	}
	return c
}

// Entry checks the next entry.
func (v *Verifier) Entry(e Entry) { v.Add(CheckEntry(e)) }

// Add takes the check of the next entry in log order and extends the
// recomputed tree with it.
func (v *Verifier) Add(c EntryCheck) {
	i := v.n
	v.n++
	if c.headerErr != nil {
		v.fail(i, "header is malformed: %v", c.headerErr)
	}
	hs, err := tlog.StoredHashesForRecordHash(i, c.leaf, v)
	if err != nil {
		v.fail(i, "couldn't compute tree hashes: %v", err)
		return
	}
	v.hashes.append(hs)
	switch {
	case c.headerErr != nil:
	case c.erased:
		v.erased = append(v.erased, i)
	case !c.payloadOK:
		v.mismatch = append(v.mismatch, i)
	}
	switch {
	case c.erasure == -2 || c.erasure >= i:
		v.fail(i, "erasure entry has a malformed payload")
	case c.erasure >= 0:
		v.erasedBy[c.erasure] = i
	}
}

// ReadHashes implements tlog.HashReader over the recomputed hashes.
func (v *Verifier) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= v.hashes.len() {
			return nil, fmt.Errorf("stored hash %d not computed", x)
		}
		out[i] = v.hashes.at(x)
	}
	return out, nil
}

// Hashes compares stored hashes, starting at tlog index first, with the
// recomputed ones.
func (v *Verifier) Hashes(first int64, stored []tlog.Hash) {
	if first < 0 {
		v.fail(v.n, "stored hashes frame starts at a negative index")
		return
	}
	if first != v.checked {
		v.fail(v.entryOfHash(first), "stored hashes resume at tlog index %d, want %d (hashes missing or repeated)", first, v.checked)
	}
	// Report the first difference of each frame only, and go on from the
	// frame's end either way, so that one tampered entry is not reported
	// again for every later frame.
	defer func() { v.checked = first + int64(len(stored)) }()
	for k, h := range stored {
		x := first + int64(k)
		if x >= v.hashes.len() {
			v.fail(v.n, "storage holds stored hash %d for an entry that isn't there (entry deleted or log truncated)", x)
			return
		}
		if v.hashes.at(x) != h {
			level, n := tlog.SplitStoredHashIndex(x)
			if level == 0 {
				v.fail(n, "entry doesn't match its stored leaf hash (header changed, or entries deleted, inserted or reordered)")
			} else {
				// Named at the entry whose append wrote this hash.
				v.fail((n+1)<<level-1, "stored hash at level %d index %d differs from the one recomputed from the entries", level, n)
			}
			return
		}
	}
}

func (v *Verifier) entryOfHash(x int64) int64 {
	level, n := tlog.SplitStoredHashIndex(x)
	return n << level
}

// Checkpoint checks the next signed checkpoint: signature, origin, that it
// covers entries already seen, that its root is the recomputed one, and
// that it is consistent with the previous checkpoint.
func (v *Verifier) Checkpoint(msg []byte) {
	c, err := OpenCheckpoint(msg, v.origin, v.key)
	if err != nil {
		v.fail(v.n-1, "checkpoint after this entry: %v (forged or replaced checkpoint)", err)
		return
	}
	v.CheckTree(c, "checkpoint")
	if v.cps > 0 && c.N <= v.lastCP.N {
		v.fail(c.N-1, "checkpoint of size %d follows one of size %d", c.N, v.lastCP.N)
	}
	if v.cps > 0 && c.N > v.lastCP.N && c.N <= v.n {
		p, err := tlog.ProveTree(c.N, v.lastCP.N, v)
		if err == nil {
			err = tlog.CheckTree(p, c.N, c.Hash, v.lastCP.N, v.lastCP.Hash)
		}
		if err != nil {
			v.fail(c.N-1, "checkpoint of size %d is not consistent with the one of size %d: %v", c.N, v.lastCP.N, err)
		}
	}
	v.lastCP = c
	v.cps++
}

// CheckTree checks that a tree head (from a checkpoint, or one published
// earlier and given by the expert) matches the recomputed log.
func (v *Verifier) CheckTree(c Checkpoint, what string) {
	if c.N > v.n {
		v.fail(v.n, "%s of size %d covers more entries than the log holds (%d): log truncated or entries deleted", what, c.N, v.n)
		return
	}
	if c.N == 0 {
		return
	}
	root, err := tlog.TreeHash(c.N, v)
	if err != nil {
		v.fail(c.N-1, "couldn't compute the tree of size %d: %v", c.N, err)
		return
	}
	if root != c.Hash {
		v.fail(c.N-1, "%s of size %d has root %s but the entries give %s (a fork, or history rewritten)", what, c.N, c.Hash, root)
	}
}

// Finish completes the verification and returns the report.
func (v *Verifier) Finish() *Report {
	if v.checked != v.hashes.len() && v.checked < tlog.StoredHashCount(v.lastCP.N) {
		v.fail(v.entryOfHash(v.checked), "stored hashes missing from tlog index %d", v.checked)
	}
	if v.cps == 0 && v.n > 0 {
		v.fail(-1, "no signed checkpoint covers the log")
	}
	if v.n > v.lastCP.N {
		v.fail(v.lastCP.N, "%d entries after the last signed checkpoint (size %d)", v.n-v.lastCP.N, v.lastCP.N)
	}
	for _, i := range v.mismatch {
		if by, ok := v.erasedBy[i]; ok {
			v.Warn("entry %d: erasure recorded by entry %d was interrupted (payload partly erased); the server completes it at its next start", i, by)
			continue
		}
		v.fail(i, "payload doesn't match the commitment in the header (payload changed)")
	}
	for _, i := range v.erased {
		if _, ok := v.erasedBy[i]; !ok {
			v.fail(i, "payload is missing and no erasure entry records its erasure (tampering)")
		}
	}
	erased := make(map[int64]bool, len(v.erased))
	for _, i := range v.erased {
		erased[i] = true
	}
	for _, i := range v.mismatch {
		erased[i] = true // reported above as an interrupted erasure
	}
	for i, by := range v.erasedBy {
		switch {
		case i >= v.n:
			v.fail(by, "erasure entry names entry %d, which doesn't exist", i)
		case !erased[i]:
			v.Warn("entry %d: erasure recorded by entry %d not yet carried out (payload still present); the server completes it at its next start", i, by)
		}
	}
	sort.Strings(v.warnings)
	sort.SliceStable(v.problems, func(a, b int) bool { return v.problems[a].Index < v.problems[b].Index })
	r := &Report{
		Entries: v.n, Checkpoints: v.cps, TreeSize: v.lastCP.N, Root: v.lastCP.Hash,
		Erased: v.erased, Problems: v.problems, Warnings: v.warnings,
	}
	return r
}

// String renders a report for a person: the summary, then every problem
// and warning.
func (r *Report) String() string {
	var b strings.Builder
	b.WriteString(r.Summary() + "\n")
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  problem: %s\n", p)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", w)
	}
	return b.String()
}

// hashList is an append-only list of hashes kept in fixed-size chunks, so
// that growing it never copies what it already holds (a million-entry log
// has two million stored hashes).
type hashList struct {
	chunks [][]tlog.Hash
	n      int64
}

const hashChunk = 1 << 16

func (l *hashList) len() int64 { return l.n }

func (l *hashList) at(i int64) tlog.Hash { return l.chunks[i/hashChunk][i%hashChunk] }

func (l *hashList) append(hs []tlog.Hash) {
	for _, h := range hs {
		if l.n%hashChunk == 0 {
			l.chunks = append(l.chunks, make([]tlog.Hash, 0, hashChunk))
		}
		c := &l.chunks[len(l.chunks)-1]
		*c = append(*c, h)
		l.n++
	}
}
