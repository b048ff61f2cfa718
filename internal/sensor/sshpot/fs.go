package sshpot

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// node is a file, directory or symlink of the fake filesystem.
type node struct {
	mode     fs.FileMode // permission bits and fs.ModeDir or fs.ModeSymlink
	uid, gid int
	size     int64  // of a file without content (a binary); else len(content)
	content  string // a regular file's bytes
	gen      func(*shell) string
	target   string // a symlink's target
	mtime    time.Time
	children []string // a base directory's entry names, sorted
}

func (n *node) isDir() bool { return n.mode&fs.ModeDir != 0 }

func (n *node) fileSize(sh *shell) int64 {
	switch {
	case n.isDir():
		return 4096
	case n.mode&fs.ModeSymlink != 0:
		return int64(len(n.target))
	case n.gen != nil:
		return 0 // like /proc
	case n.content != "":
		return int64(len(n.content))
	}
	return n.size
}

// baseFS is the read-only tree every session starts from; it is built
// once per server and shared.
type baseFS struct {
	nodes map[string]*node
}

// Filesystem errors, worded as coreutils words them.
var (
	errNotExist = errors.New("No such file or directory")
	errPerm     = errors.New("Permission denied")
	errIsDir    = errors.New("Is a directory")
	errNotDir   = errors.New("Not a directory")
	errNoSpace  = errors.New("No space left on device")
)

// Overlay bounds: what one session can change in its private view.
const (
	maxOverlayNodes = 256
	maxOverlayBytes = 256 << 10
)

// vfs is one session's view: the shared base with a private overlay of
// what the session created, changed or removed. The overlay is made on
// the first change, so a session that only looks costs nothing.
type vfs struct {
	base    *baseFS
	overlay map[string]*node // nil node: removed
	bytes   int
}

// get returns the node stored at the clean absolute path p, following no
// symlink; resolve follows them.
func (v *vfs) get(p string) *node {
	if n, ok := v.overlay[p]; ok {
		return n
	}
	// A removed ancestor hides the base subtree.
	for d := path.Dir(p); len(v.overlay) > 0 && d != "/"; d = path.Dir(d) {
		if n, ok := v.overlay[d]; ok && n == nil {
			return nil
		}
	}
	return v.base.nodes[p]
}

// resolve turns p (absolute, clean) into the path of what it names,
// following symlinks in every component (and the last one if follow),
// at most 8 times like a small ELOOP.
func (v *vfs) resolve(p string, follow bool) (string, *node, error) {
	hops := 0
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i := 0; i < len(parts); i++ {
		if parts[i] == "" {
			continue
		}
		next := path.Join(cur, parts[i])
		n := v.get(next)
		if n == nil {
			return next, nil, errNotExist
		}
		if n.mode&fs.ModeSymlink != 0 && (follow || i < len(parts)-1) {
			if hops++; hops > 8 {
				return next, nil, errors.New("Too many levels of symbolic links")
			}
			t := n.target
			if !path.IsAbs(t) {
				t = path.Join(cur, t)
			}
			rest := append(strings.Split(strings.TrimPrefix(path.Clean(t), "/"), "/"), parts[i+1:]...)
			parts, i, cur = rest, -1, "/"
			continue
		}
		if i < len(parts)-1 && !n.isDir() {
			return next, nil, errNotDir
		}
		cur = next
	}
	return cur, v.get(cur), nil
}

// stat returns the node p names, following symlinks.
func (v *vfs) stat(p string) (string, *node, error) { return v.resolve(p, true) }

// list returns the entry names of the directory at the resolved path d.
func (v *vfs) list(d string) []string {
	var names []string
	if n := v.base.nodes[d]; n != nil && n.isDir() {
		for _, c := range n.children {
			if v.get(path.Join(d, c)) != nil {
				names = append(names, c)
			}
		}
	}
	for p, n := range v.overlay {
		if n != nil && p != "/" && path.Dir(p) == d && v.base.nodes[p] == nil {
			names = append(names, path.Base(p))
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// put records n (nil: removed) at p in the overlay, within its bounds.
func (v *vfs) put(p string, n *node) error {
	bytes := v.bytes
	old, exists := v.overlay[p]
	if old != nil {
		bytes -= len(old.content) + len(p)
	}
	if n != nil {
		bytes += len(n.content) + len(p)
	}
	if !exists && len(v.overlay) >= maxOverlayNodes || bytes > maxOverlayBytes {
		return errNoSpace
	}
	if v.overlay == nil {
		v.overlay = make(map[string]*node)
	}
	v.overlay[p] = n
	v.bytes = bytes
	return nil
}

// remove hides p and, for a directory, what is under it.
func (v *vfs) remove(p string) error {
	for q, n := range v.overlay {
		if q == p || strings.HasPrefix(q, p+"/") {
			if n != nil {
				v.bytes -= len(n.content) + len(q)
			}
			delete(v.overlay, q)
		}
	}
	if v.base.nodes[p] == nil {
		return nil
	}
	return v.put(p, nil)
}

// baseBuilder assembles a baseFS.
type baseBuilder struct {
	fs    *baseFS
	mtime time.Time
}

func (b *baseBuilder) add(p string, n *node) {
	if n.mtime.IsZero() {
		n.mtime = b.mtime
	}
	if _, ok := b.fs.nodes[p]; !ok && p != "/" {
		parent := path.Dir(p)
		if b.fs.nodes[parent] == nil {
			b.dir(parent, 0o755)
		}
		pn := b.fs.nodes[parent]
		i, _ := slices.BinarySearch(pn.children, path.Base(p))
		pn.children = slices.Insert(pn.children, i, path.Base(p))
	}
	b.fs.nodes[p] = n
}

func (b *baseBuilder) dir(p string, perm fs.FileMode) *node {
	if n := b.fs.nodes[p]; n != nil {
		return n
	}
	n := &node{mode: fs.ModeDir | perm}
	b.add(p, n)
	return n
}

func (b *baseBuilder) file(p string, perm fs.FileMode, content string) *node {
	n := &node{mode: perm, content: content}
	b.add(p, n)
	return n
}

func (b *baseBuilder) link(p, target string) {
	b.add(p, &node{mode: fs.ModeSymlink | 0o777, target: target})
}

func (b *baseBuilder) owned(n *node, uid, gid int) *node {
	n.uid, n.gid = uid, gid
	return n
}

// binaries are the commands in /usr/bin (sizes are believable).
var binaries = map[string]int64{
	"apt": 18824, "apt-get": 27024, "awk": 158432, "base64": 35328, "bash": 1396520, "cat": 35280, "chmod": 64448,
	"chown": 72512, "cp": 141824, "crontab": 43720, "curl": 260328, "cut": 47480, "dash": 125688, "date": 104960,
	"df": 84816, "dig": 129384, "du": 92992, "echo": 35120, "env": 48536, "file": 22912, "find": 224848, "free": 31104,
	"grep": 186016, "gzip": 93168, "head": 43416, "hostname": 22760, "id": 39424, "ip": 744544, "kill": 30952,
	"less": 183808, "ln": 68720, "ls": 138208, "lscpu": 108920, "md5sum": 43424, "mkdir": 68864, "mount": 47480,
	"mv": 137824, "nano": 283144, "nc": 35704, "netstat": 154072, "nohup": 35272, "nproc": 35288, "perl": 3478464,
	"ping": 76672, "ps": 137688, "pwd": 39304, "python3": 5913032, "rm": 59912, "scp": 117096, "sed": 112880,
	"sh": 125688, "sleep": 35336, "sort": 117104, "ss": 162104, "ssh": 846240, "sudo": 232416, "tail": 68552,
	"tar": 520400, "top": 138608, "touch": 100728, "uname": 35328, "uniq": 43416, "uptime": 14568, "vi": 2853176,
	"w": 22896, "wc": 47576, "wget": 515648, "which": 1071, "whoami": 35272, "xargs": 72608,
}

// sbinaries are the commands in /usr/sbin.
var sbinaries = map[string]int64{
	"ifconfig": 84000, "iptables": 100920, "reboot": 1423040, "shutdown": 1423040, "sshd": 921544, "useradd": 137928,
	"usermod": 142064, "nginx": 1277632, "route": 67648, "init": 1849992,
}

// userInfo is an account of the fake system.
type userInfo struct {
	name     string
	uid, gid int
	home     string
}

// buildBase makes the base filesystem for cfg and the persona p.
func buildBase(cfg Config, p *persona, users []userInfo) *baseFS {
	installed := time.Date(2024, 3, 12, 9, 41, 7, 0, time.UTC)
	b := &baseBuilder{fs: &baseFS{nodes: make(map[string]*node)}, mtime: installed}
	b.fs.nodes["/"] = &node{mode: fs.ModeDir | 0o755, mtime: installed}
	for _, d := range []string{"/boot", "/dev", "/etc", "/home", "/media", "/mnt", "/opt", "/proc", "/run", "/srv", "/sys",
		"/usr", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/local", "/usr/local/bin", "/usr/share", "/var", "/var/lib",
		"/var/log", "/var/www", "/var/www/html", "/var/spool", "/var/spool/cron", "/etc/ssh", "/etc/cron.d", "/etc/nginx"} {
		b.dir(d, 0o755)
	}
	for _, d := range []string{"/tmp", "/var/tmp", "/dev/shm"} {
		b.dir(d, 0o777|fs.ModeSticky)
	}
	b.dir("/root", 0o700)
	b.dir("/var/spool/cron/crontabs", 0o730|fs.ModeSticky)
	for _, l := range [][2]string{{"/bin", "usr/bin"}, {"/sbin", "usr/sbin"}, {"/lib", "usr/lib"}, {"/lib64", "usr/lib64"}} {
		b.link(l[0], l[1])
	}
	for name, size := range binaries {
		b.add("/usr/bin/"+name, &node{mode: 0o755, size: size})
	}
	for name, size := range sbinaries {
		b.add("/usr/sbin/"+name, &node{mode: 0o755, size: size})
	}
	b.file("/etc/os-release", 0o644, p.osRelease)
	b.file("/etc/issue", 0o644, p.issue)
	b.file("/etc/debian_version", 0o644, p.debianVer)
	b.file("/etc/hostname", 0o644, cfg.Hostname+"\n")
	b.file("/etc/hosts", 0o644, "127.0.0.1 localhost\n127.0.1.1 "+cfg.Hostname+"\n\n# The following lines are desirable for IPv6 capable hosts\n::1     ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n")
	b.file("/etc/resolv.conf", 0o644, "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n")
	b.file("/etc/shells", 0o644, "# /etc/shells: valid login shells\n/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/rbash\n/usr/bin/rbash\n/usr/bin/sh\n/bin/dash\n/usr/bin/dash\n")
	b.file("/etc/crontab", 0o644, crontab)
	b.file("/etc/fstab", 0o644, "LABEL=cloudimg-rootfs\t/\t ext4\tdiscard,errors=remount-ro\t0 1\nLABEL=UEFI\t/boot/efi\tvfat\tumask=0077\t0 1\n")
	b.file("/etc/ssh/sshd_config", 0o644, "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nPrintMotd no\nAcceptEnv LANG LC_*\nSubsystem\tsftp\t/usr/lib/openssh/sftp-server\nPasswordAuthentication yes\n")
	b.file("/etc/nginx/nginx.conf", 0o644, "user www-data;\nworker_processes auto;\npid /run/nginx.pid;\ninclude /etc/nginx/modules-enabled/*.conf;\n\nevents {\n\tworker_connections 768;\n}\n\nhttp {\n\tsendfile on;\n\ttcp_nopush on;\n\ttypes_hash_max_size 2048;\n\tinclude /etc/nginx/mime.types;\n\tdefault_type application/octet-stream;\n\taccess_log /var/log/nginx/access.log;\n\terror_log /var/log/nginx/error.log;\n\tinclude /etc/nginx/conf.d/*.conf;\n\tinclude /etc/nginx/sites-enabled/*;\n}\n")
	b.file("/var/www/html/index.html", 0o644, "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n</body>\n</html>\n")
	b.owned(b.file("/var/log/auth.log", 0o640, ""), 104, 4).size = 48213
	b.owned(b.file("/var/log/syslog", 0o640, ""), 104, 4).size = 391022
	b.owned(b.file("/var/log/wtmp", 0o664, ""), 0, 43).size = 38016
	b.file("/proc/cpuinfo", 0o444, "").gen = func(*shell) string { return cpuinfo() }
	b.file("/proc/meminfo", 0o444, "").gen = func(*shell) string { return meminfo }
	b.file("/proc/version", 0o444, "").gen = func(sh *shell) string {
		return "Linux version " + p.kernel + " (buildd@lcy02-amd64-008) " + p.gcc + " " + p.kernelVer + "\n"
	}
	b.file("/proc/uptime", 0o444, "").gen = func(sh *shell) string { return sh.procUptime() }
	b.file("/proc/loadavg", 0o444, "").gen = func(*shell) string { return "0.08 0.03 0.01 1/118 24153\n" }
	b.file("/proc/mounts", 0o444, "").gen = func(*shell) string { return mounts }
	b.file("/dev/null", 0o666, "")
	b.file("/dev/zero", 0o666, "")
	b.file("/dev/urandom", 0o666, "")
	b.dir("/dev/pts", 0o755)

	var passwd, shadow, group strings.Builder
	passwd.WriteString(systemPasswd)
	shadow.WriteString(systemShadow)
	group.WriteString(systemGroup)
	for _, u := range users {
		if u.uid == 0 {
			continue
		}
		passwd.WriteString(u.name + ":x:" + itoa(u.uid) + ":" + itoa(u.gid) + ":" + u.name + ",,,:" + u.home + ":/bin/bash\n")
		shadow.WriteString(u.name + ":$y$j9T$" + fakeSalt(u.name) + ":19794:0:99999:7:::\n")
		group.WriteString(u.name + ":x:" + itoa(u.gid) + ":\n")
		b.owned(b.dir(u.home, 0o750), u.uid, u.gid)
		b.owned(b.file(u.home+"/.bashrc", 0o644, userBashrc), u.uid, u.gid)
		b.owned(b.file(u.home+"/.profile", 0o644, profile), u.uid, u.gid)
		b.owned(b.file(u.home+"/.bash_logout", 0o644, "# ~/.bash_logout: executed by bash(1) when login shell exits.\n"), u.uid, u.gid)
		b.owned(b.dir(u.home+"/.ssh", 0o700), u.uid, u.gid)
		b.owned(b.file(u.home+"/.ssh/authorized_keys", 0o600, ""), u.uid, u.gid)
	}
	b.file("/etc/passwd", 0o644, passwd.String())
	b.owned(b.file("/etc/shadow", 0o640, shadow.String()), 0, 42)
	b.file("/etc/group", 0o644, group.String())
	b.file("/root/.bashrc", 0o644, rootBashrc)
	b.file("/root/.profile", 0o644, profile)
	b.dir("/root/.ssh", 0o700)
	b.file("/root/.ssh/authorized_keys", 0o600, "")
	for p, content := range cfg.Files {
		b.file(p, 0o644, content)
	}
	return b.fs
}

func fakeSalt(name string) string {
	// Stable per name, shaped like yescrypt output; never a real hash.
	const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	var b [65]byte
	for i := range b {
		h = h*6364136223846793005 + 1442695040888963407
		b[i] = alphabet[h>>58]
	}
	b[22] = '$'
	return string(b[:])
}

const systemPasswd = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
games:x:5:60:games:/usr/games:/usr/sbin/nologin
man:x:6:12:man:/var/cache/man:/usr/sbin/nologin
lp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin
mail:x:8:8:mail:/var/mail:/usr/sbin/nologin
news:x:9:9:news:/var/spool/news:/usr/sbin/nologin
uucp:x:10:10:uucp:/var/spool/uucp:/usr/sbin/nologin
proxy:x:13:13:proxy:/bin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
backup:x:34:34:backup:/var/backups:/usr/sbin/nologin
list:x:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin
irc:x:39:39:ircd:/run/ircd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
systemd-network:x:100:102:systemd Network Management,,,:/run/systemd:/usr/sbin/nologin
systemd-resolve:x:101:103:systemd Resolver,,,:/run/systemd:/usr/sbin/nologin
messagebus:x:102:105::/nonexistent:/usr/sbin/nologin
systemd-timesync:x:103:106:systemd Time Synchronization,,,:/run/systemd:/usr/sbin/nologin
syslog:x:104:111::/home/syslog:/usr/sbin/nologin
_apt:x:105:65534::/nonexistent:/usr/sbin/nologin
uuidd:x:107:114::/run/uuidd:/usr/sbin/nologin
tcpdump:x:108:115::/nonexistent:/usr/sbin/nologin
sshd:x:109:65534::/run/sshd:/usr/sbin/nologin
`

const systemShadow = `root:$y$j9T$Qk8f1vbx2ZkM0mTq8Cj6g/$3lQ0oR6c8YVq1m0zGf9kq2c3a8YwJvVtS6QnQmJ2r8B:19794:0:99999:7:::
daemon:*:19769:0:99999:7:::
bin:*:19769:0:99999:7:::
sys:*:19769:0:99999:7:::
sync:*:19769:0:99999:7:::
www-data:*:19769:0:99999:7:::
nobody:*:19769:0:99999:7:::
syslog:*:19769:0:99999:7:::
sshd:*:19769:0:99999:7:::
`

const systemGroup = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:syslog
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
news:x:9:
uucp:x:10:
man:x:12:
proxy:x:13:
sudo:x:27:
www-data:x:33:
shadow:x:42:
utmp:x:43:
users:x:100:
nogroup:x:65534:
`

const crontab = `# /etc/crontab: system-wide crontab
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin

# Example of job definition:
# .---------------- minute (0 - 59)
# |  .------------- hour (0 - 23)
# |  |  .---------- day of month (1 - 31)
# |  |  |  .------- month (1 - 12) OR jan,feb,mar,apr ...
# |  |  |  |  .---- day of week (0 - 6) (Sunday=0 or 7) OR sun,mon,tue,wed,thu,fri,sat
# |  |  |  |  |
# *  *  *  *  * user-name command to be executed
17 *	* * *	root    cd / && run-parts --report /etc/cron.hourly
25 6	* * *	root	test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )
47 6	* * 7	root	test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.weekly )
52 6	1 * *	root	test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.monthly )
#
`

const mounts = `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=1989232k,nr_inodes=497308,mode=755,inode64 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0
tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=402020k,mode=755,inode64 0 0
/dev/sda1 / ext4 rw,relatime,discard,errors=remount-ro 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev,inode64 0 0
/dev/sda15 /boot/efi vfat rw,relatime,fmask=0077,dmask=0077,codepage=437,iocharset=iso8859-1,shortname=mixed,errors=remount-ro 0 0
`

const profile = `# ~/.profile: executed by the command interpreter for login shells.
if [ -n "$BASH_VERSION" ]; then
    if [ -f "$HOME/.bashrc" ]; then
	. "$HOME/.bashrc"
    fi
fi

if [ -d "$HOME/bin" ] ; then
    PATH="$HOME/bin:$PATH"
fi
`

const rootBashrc = `# ~/.bashrc: executed by bash(1) for non-login shells.

# Note: PS1 and umask are already set in /etc/profile. You should not
# need this unless you want different defaults for root.
# PS1='${debian_chroot:+($debian_chroot)}\h:\w\$ '
# umask 022

# You may uncomment the following lines if you want ` + "`ls'" + ` to be colorized:
# export LS_OPTIONS='--color=auto'
# eval "$(dircolors)"
# alias ls='ls $LS_OPTIONS'
# alias ll='ls $LS_OPTIONS -l'
# alias l='ls $LS_OPTIONS -lA'
`

const userBashrc = `# ~/.bashrc: executed by bash(1) for non-login shells.
# see /usr/share/doc/bash/examples/startup-files (in the package bash-doc)
# for examples

# If not running interactively, don't do anything
case $- in
    *i*) ;;
      *) return;;
esac

HISTCONTROL=ignoreboth
shopt -s histappend
HISTSIZE=1000
HISTFILESIZE=2000
shopt -s checkwinsize

alias ll='ls -alF'
alias la='ls -A'
alias l='ls -CF'
`
