package sshpot

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"
)

func cmdLl(c *call) int {
	c.args = append([]string{"ls", "-alF"}, c.args[1:]...)
	return cmdLs(c)
}

type lsEntry struct {
	name string
	n    *node
}

func cmdLs(c *call) int {
	sh := c.sh
	f, _, args := flags(c.args[1:])
	long := f['l'] || f['n'] || f['g'] || f['o']
	one := f['1'] || !c.toTerm
	if len(args) == 0 {
		args = []string{"."}
	}
	status := 0
	var files []lsEntry
	var dirs []string
	for _, a := range args {
		p, n, err := sh.fs.resolve(sh.abs(a), !long || strings.HasSuffix(a, "/"))
		if err == nil && n.mode&fs.ModeSymlink != 0 && !f['d'] {
			// ls -l of a link to a directory shows the link itself.
			if _, t, err := sh.fs.stat(p); err == nil && t.isDir() && !long {
				n = t
			}
		}
		switch {
		case err != nil:
			c.errorf("ls: cannot access '%s': %s\n", a, err.Error())
			status = 2
		case n.isDir() && !f['d']:
			dirs = append(dirs, a)
		default:
			files = append(files, lsEntry{a, n})
		}
	}
	c.lsPrint(files, f, long, one, false)
	for i, d := range dirs {
		if len(files) > 0 || len(dirs) > 1 || i > 0 {
			if len(files) > 0 || i > 0 {
				c.out.WriteString("\n")
			}
			c.out.WriteString(d + ":\n")
		}
		p, n, _ := sh.fs.stat(sh.abs(d))
		if !sh.can(n, 4) {
			c.errorf("ls: cannot open directory '%s': Permission denied\n", d)
			status = 2
			continue
		}
		var entries []lsEntry
		if f['a'] {
			parent := sh.fs.get(path.Dir(p))
			entries = append(entries, lsEntry{".", n}, lsEntry{"..", parent})
		}
		for _, name := range sh.fs.list(p) {
			if strings.HasPrefix(name, ".") && !f['a'] && !f['A'] {
				continue
			}
			entries = append(entries, lsEntry{name, sh.fs.get(path.Join(p, name))})
		}
		c.lsPrint(entries, f, long, one, true)
	}
	return status
}

// lsPrint prints entries in ls's long, one-per-line or column format.
func (c *call) lsPrint(entries []lsEntry, f map[byte]bool, long, one, total bool) {
	sh := c.sh
	if len(entries) == 0 {
		if long && total {
			c.out.WriteString("total 0\n")
		}
		return
	}
	suffix := func(e lsEntry) string {
		if !f['F'] {
			return ""
		}
		switch {
		case e.n.isDir():
			return "/"
		case e.n.mode&fs.ModeSymlink != 0:
			return "@"
		case e.n.mode&0o111 != 0:
			return "*"
		}
		return ""
	}
	if !long {
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.name + suffix(e)
		}
		if one {
			c.out.WriteString(strings.Join(names, "\n") + "\n")
		} else {
			c.out.WriteString(columns(names, sh.cols))
		}
		return
	}
	type row struct{ mode, links, owner, group, size, date, name string }
	rows := make([]row, len(entries))
	var w row
	blocks := int64(0)
	for i, e := range entries {
		size := e.n.fileSize(sh)
		blocks += (size + 4095) / 4096 * 4
		links := 1
		if e.n.isDir() {
			links = 2
		}
		r := row{
			mode:  modeString(e.n.mode),
			links: itoa(links),
			owner: sh.ownerName(e.n.uid, f['n']),
			group: sh.groupName(e.n.gid, f['n']),
			size:  itoa(int(size)),
			date:  lsDate(e.n.mtime, sh.host.now()),
			name:  e.name + suffix(e),
		}
		if f['h'] {
			r.size = humanSize(size)
		}
		if e.n.mode&fs.ModeSymlink != 0 {
			r.name = e.name + " -> " + e.n.target
		}
		rows[i] = r
		w.links = longer(w.links, r.links)
		w.owner = longer(w.owner, r.owner)
		w.group = longer(w.group, r.group)
		w.size = longer(w.size, r.size)
	}
	if total {
		if f['h'] {
			c.out.WriteString("total " + humanSize(blocks*1024) + "\n")
		} else {
			c.out.WriteString(fmt.Sprintf("total %d\n", blocks))
		}
	}
	for _, r := range rows {
		line := fmt.Sprintf("%s %*s ", r.mode, len(w.links), r.links)
		if !f['g'] {
			line += fmt.Sprintf("%-*s ", len(w.owner), r.owner)
		}
		if !f['o'] {
			line += fmt.Sprintf("%-*s ", len(w.group), r.group)
		}
		c.out.WriteString(line + fmt.Sprintf("%*s %s %s\n", len(w.size), r.size, r.date, r.name))
	}
}

func longer(a, b string) string {
	if len(b) > len(a) {
		return b
	}
	return a
}

// columns lays names out top to bottom in as many columns as fit width,
// the way ls does on a terminal.
func columns(names []string, width int) string {
	if width <= 0 {
		width = 80
	}
	for cols := min(len(names), width/3+1); cols >= 1; cols-- {
		rows := (len(names) + cols - 1) / cols
		colW := make([]int, cols)
		total := 0
		for i, n := range names {
			colW[i/rows] = max(colW[i/rows], len(n)+2)
		}
		for _, cw := range colW {
			total += cw
		}
		if total-2 >= width && cols > 1 {
			continue
		}
		var b strings.Builder
		for r := 0; r < rows; r++ {
			for col := 0; col < cols; col++ {
				i := col*rows + r
				if i >= len(names) {
					break
				}
				b.WriteString(names[i])
				if next := (col+1)*rows + r; col+1 < cols && next < len(names) {
					b.WriteString(strings.Repeat(" ", colW[col]-len(names[i])))
				}
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	return strings.Join(names, "\n") + "\n"
}

func modeString(m fs.FileMode) string {
	b := []byte("-rwxrwxrwx")
	switch {
	case m&fs.ModeDir != 0:
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	}
	for i := 0; i < 9; i++ {
		if m&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	if m&fs.ModeSticky != 0 {
		if b[9] == 'x' {
			b[9] = 't'
		} else {
			b[9] = 'T'
		}
	}
	return string(b)
}

func lsDate(t, now time.Time) string {
	if now.Sub(t) < 180*24*time.Hour && t.Before(now.Add(time.Hour)) {
		return t.Format("Jan _2 15:04")
	}
	return t.Format("Jan _2  2006")
}

func humanSize(n int64) string {
	switch {
	case n < 1024:
		return itoa(int(n))
	case n < 10*1024:
		return fmt.Sprintf("%.1fK", float64(n)/1024)
	case n < 1024*1024:
		return fmt.Sprintf("%dK", (n+1023)/1024)
	case n < 10*1024*1024:
		return fmt.Sprintf("%.1fM", float64(n)/(1024*1024))
	}
	return fmt.Sprintf("%dM", (n+1024*1024-1)/(1024*1024))
}

var systemNames = map[int]string{0: "root", 4: "adm", 33: "www-data", 42: "shadow", 43: "utmp", 104: "syslog", 65534: "nogroup"}

func (sh *shell) ownerName(uid int, numeric bool) string {
	if !numeric {
		if uid == sh.user.uid {
			return sh.user.name
		}
		if n, ok := systemNames[uid]; ok && uid != 4 && uid != 42 && uid != 43 {
			return n
		}
		for _, u := range sh.host.users {
			if u.uid == uid {
				return u.name
			}
		}
	}
	return itoa(uid)
}

func (sh *shell) groupName(gid int, numeric bool) string {
	if !numeric {
		if gid == sh.user.gid {
			return sh.user.name
		}
		if n, ok := systemNames[gid]; ok {
			return n
		}
		for _, u := range sh.host.users {
			if u.gid == gid {
				return u.name
			}
		}
	}
	return itoa(gid)
}
