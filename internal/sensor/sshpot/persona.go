package sshpot

import (
	"slices"
	"strings"
)

// persona is one believable system: everything a client can see that
// must agree (the SSH version and algorithms with the distribution, the
// kernel with uname and /proc/version).
type persona struct {
	version    string // SSH version line
	kex        []string
	ciphers    []string
	macs       []string
	osRelease  string
	issue      string
	debianVer  string
	kernel     string // uname -r
	kernelVer  string // uname -v
	gcc        string // in /proc/version
	motd       string // printed at an interactive login, before "Last login"
	userPrompt bool   // users get Ubuntu's colour prompt on xterm-like terminals
}

const defaultPersona = "ubuntu-22.04"

var personas = map[string]*persona{
	"ubuntu-22.04": {
		version: "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
		kex: []string{"curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
			"ecdh-sha2-nistp521", "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512", "diffie-hellman-group14-sha256"},
		ciphers: []string{"chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"},
		macs:    []string{"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256", "hmac-sha2-512", "hmac-sha1"},
		osRelease: `PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
`,
		issue:      "Ubuntu 22.04.4 LTS \\n \\l\n\n",
		debianVer:  "bookworm/sid\n",
		kernel:     "5.15.0-105-generic",
		kernelVer:  "#115-Ubuntu SMP Mon Apr 15 09:52:04 UTC 2024",
		gcc:        "(gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0, GNU ld (GNU Binutils for Ubuntu) 2.38)",
		userPrompt: true,
		motd: `Welcome to Ubuntu 22.04.4 LTS (GNU/Linux 5.15.0-105-generic x86_64)

 * Documentation:  https://help.ubuntu.com
 * Management:     https://landscape.canonical.com
 * Support:        https://ubuntu.com/pro

  System information as of {{date}}

  System load:  0.08               Processes:             118
  Usage of /:   23.4% of 38.58GB   Users logged in:       0
  Memory usage: 21%                IPv4 address for eth0: 10.0.0.14
  Swap usage:   0%

Expanded Security Maintenance for Applications is not enabled.

14 updates can be applied immediately.
To see these additional updates run: apt list --upgradable

Enable ESM Apps to receive additional future security updates.
See https://ubuntu.com/esm or run: sudo pro status

`,
	},
	"debian-12": {
		version: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
		kex: []string{"curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
			"ecdh-sha2-nistp521", "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512", "diffie-hellman-group14-sha256"},
		ciphers: []string{"chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"},
		macs:    []string{"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256", "hmac-sha2-512", "hmac-sha1"},
		osRelease: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`,
		issue:     "Debian GNU/Linux 12 \\n \\l\n\n",
		debianVer: "12.5\n",
		kernel:    "6.1.0-18-amd64",
		kernelVer: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
		gcc:       "(gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40)",
		motd: `
The programs included with the Debian GNU/Linux system are free software;
the exact distribution terms for each program are described in the
individual files in /usr/share/doc/*/copyright.

Debian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent
permitted by applicable law.
`,
	},
}

func personaNames() []string {
	var names []string
	for n := range personas {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// cpuinfo is /proc/cpuinfo of a two-vCPU cloud machine.
func cpuinfo() string {
	var b strings.Builder
	for i := range 2 {
		b.WriteString(strings.ReplaceAll(cpuinfoOne, "{{n}}", string(rune('0'+i))))
	}
	return b.String()
}

const cpuinfoOne = `processor	: {{n}}
vendor_id	: GenuineIntel
cpu family	: 6
model		: 79
model name	: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz
stepping	: 1
microcode	: 0xb000040
cpu MHz		: 2399.998
cache size	: 35840 KB
physical id	: 0
siblings	: 2
core id		: {{n}}
cpu cores	: 2
apicid		: {{n}}
initial apicid	: {{n}}
fpu		: yes
fpu_exception	: yes
cpuid level	: 13
wp		: yes
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx rdtscp lm constant_tsc rep_good nopl xtopology cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch invpcid_single pti fsgsbase bmi1 hle avx2 smep bmi2 erms invpcid rtm rdseed adx smap xsaveopt arat
bugs		: cpu_meltdown spectre_v1 spectre_v2 spec_store_bypass l1tf mds swapgs taa itlb_multihit mmio_stale_data
bogomips	: 4799.99
clflush size	: 64
cache_alignment	: 64
address sizes	: 46 bits physical, 48 bits virtual
power management:

`

const meminfo = `MemTotal:        4020184 kB
MemFree:         2214748 kB
MemAvailable:    3165304 kB
Buffers:           74268 kB
Cached:           997376 kB
SwapCached:            0 kB
Active:           628344 kB
Inactive:         944244 kB
Active(anon):       2868 kB
Inactive(anon):   507432 kB
Active(file):     625476 kB
Inactive(file):   436812 kB
Unevictable:       27640 kB
Mlocked:           27640 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Dirty:               124 kB
Writeback:             0 kB
AnonPages:        528612 kB
Mapped:           247800 kB
Shmem:              3372 kB
KReclaimable:      93440 kB
Slab:             151076 kB
SReclaimable:      93440 kB
SUnreclaim:        57636 kB
KernelStack:        3104 kB
PageTables:         7660 kB
NFS_Unstable:          0 kB
Bounce:                0 kB
WritebackTmp:          0 kB
CommitLimit:     2010092 kB
Committed_AS:    1715980 kB
VmallocTotal:   34359738367 kB
VmallocUsed:       15584 kB
VmallocChunk:          0 kB
Percpu:             1008 kB
HardwareCorrupted:     0 kB
AnonHugePages:         0 kB
ShmemHugePages:        0 kB
ShmemPmdMapped:        0 kB
FileHugePages:         0 kB
FilePmdMapped:         0 kB
HugePages_Total:       0
HugePages_Free:        0
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:               0 kB
DirectMap4k:      145384 kB
DirectMap2M:     4048896 kB
DirectMap1G:     2097152 kB
`
