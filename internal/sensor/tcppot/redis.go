package tcppot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vallum/vallum/internal/sensor"
)

// Bounds of the RESP parser.
const (
	respMaxArgs  = 64
	respMaxBulk  = 64 << 10
	respMaxTotal = 256 << 10
	redisMaxKeys = 100 // keys one connection may SET
	// A key and a value are kept clipped to these, so a connection holds
	// at most redisMaxKeys*(redisMaxKey+redisMaxValue) bytes of them
	// (about 425 KiB) for its whole session.
	redisMaxKey   = 256
	redisMaxValue = 4096
)

// errProtocol is a request the parser refuses; the connection ends.
var errProtocol = errors.New("protocol error")

// readRESP reads one Redis command: a RESP array of bulk strings or an
// inline command line. An empty inline line yields no arguments. It
// reads at most respMaxTotal bytes of arguments and never allocates more
// than the client has sent.
func readRESP(r *bufio.Reader) ([]string, error) {
	line, err := readLine(r, maxLine)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return strings.Fields(line), nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > respMaxArgs {
		return nil, fmt.Errorf("%w: invalid multibulk length", errProtocol)
	}
	args := make([]string, 0, n)
	total := 0
	for range n {
		h, err := readLine(r, 32)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(h, "$") {
			return nil, fmt.Errorf("%w: expected '$', got '%s'", errProtocol, clip(h, 1))
		}
		l, err := strconv.Atoi(h[1:])
		if err != nil || l < 0 || l > respMaxBulk || total+l > respMaxTotal {
			return nil, fmt.Errorf("%w: invalid bulk length", errProtocol)
		}
		total += l
		b, err := sensor.AppendFull(r, nil, l+2)
		if err != nil {
			return nil, err
		}
		if b[l] != '\r' || b[l+1] != '\n' {
			return nil, fmt.Errorf("%w: bulk string not terminated", errProtocol)
		}
		args = append(args, string(b[:l]))
	}
	return args, nil
}

// redis answers like an unauthenticated Redis 7: every command recorded,
// AUTH recorded as a credential, SET/GET kept per connection (bounded),
// CONFIG SET, SLAVEOF, MODULE LOAD and the like answered +OK and never
// acted on.
func (s *Server) redis(ctx context.Context, ss *session) {
	keys := map[string]string{}
	for {
		args, err := readRESP(ss.r)
		if err != nil {
			if errors.Is(err, errProtocol) || errors.Is(err, errLineTooLong) {
				ss.write("-ERR Protocol error: " + strings.TrimPrefix(err.Error(), errProtocol.Error()+": ") + "\r\n")
			}
			return
		}
		if len(args) == 0 {
			continue
		}
		cmd := strings.ToUpper(args[0])
		if cmd == "AUTH" && len(args) >= 2 {
			c := sensor.Credentials{Method: "password", Password: args[len(args)-1]}
			if len(args) >= 3 {
				c.Username = args[1]
			}
			ss.auth(c, nil)
		} else {
			ss.command(strings.Join(args, " "), nil)
		}
		reply, end := s.redisReply(cmd, args, keys)
		if ss.write(reply) != nil || end {
			return
		}
	}
}

func bulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

func array(items ...string) string {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(items)) + "\r\n")
	for _, it := range items {
		b.WriteString(bulk(it))
	}
	return b.String()
}

// redisArity is the argument count of the commands answered, as Redis
// checks it (negative: at least).
var redisArity = map[string]int{
	"GET": 2, "SET": -3, "DEL": -2, "EXISTS": -2, "KEYS": 2, "PING": -1, "ECHO": 2, "INFO": -1,
	"CONFIG": -2, "AUTH": -2, "SELECT": 2, "DBSIZE": 1, "FLUSHALL": -1, "FLUSHDB": -1, "SAVE": 1,
	"BGSAVE": -1, "SLAVEOF": 3, "REPLICAOF": 3, "MODULE": -2, "CLIENT": -2, "COMMAND": -1, "QUIT": -1,
	"TYPE": 2, "TTL": 2, "EVAL": -3, "SCAN": -2, "HELLO": -1,
}

// redisReply returns the answer to one command, and whether to hang up.
func (s *Server) redisReply(cmd string, args []string, keys map[string]string) (string, bool) {
	arity, known := redisArity[cmd]
	if !known {
		rest := ""
		for _, a := range args[1:] {
			rest += "'" + clip(a, 32) + "' "
		}
		return fmt.Sprintf("-ERR unknown command '%s', with args beginning with: %s\r\n", clip(args[0], 64), clip(rest, 128)), false
	}
	if (arity > 0 && len(args) != arity) || (arity < 0 && len(args) < -arity) {
		return fmt.Sprintf("-ERR wrong number of arguments for '%s' command\r\n", strings.ToLower(cmd)), false
	}
	switch cmd {
	case "PING":
		if len(args) > 1 {
			return bulk(args[1]), false
		}
		return "+PONG\r\n", false
	case "ECHO":
		return bulk(args[1]), false
	case "QUIT":
		return "+OK\r\n", true
	case "AUTH":
		return "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n", false
	case "INFO":
		return bulk(s.redisInfo()), false
	case "GET":
		if v, ok := keys[clip(args[1], redisMaxKey)]; ok {
			return bulk(v), false
		}
		return "$-1\r\n", false
	case "SET":
		k := clip(args[1], redisMaxKey)
		if _, ok := keys[k]; ok || len(keys) < redisMaxKeys {
			// strings.Clone: a clipped string would otherwise keep the
			// whole argument it was cut from alive.
			keys[strings.Clone(k)] = strings.Clone(clip(args[2], redisMaxValue))
		}
		return "+OK\r\n", false
	case "DEL", "EXISTS":
		n := 0
		for _, k := range args[1:] {
			k = clip(k, redisMaxKey)
			if _, ok := keys[k]; ok {
				n++
				if cmd == "DEL" {
					delete(keys, k)
				}
			}
		}
		return ":" + strconv.Itoa(n) + "\r\n", false
	case "KEYS":
		var ks []string
		for k := range keys {
			ks = append(ks, k)
		}
		return array(ks...), false
	case "DBSIZE":
		return ":" + strconv.Itoa(len(keys)) + "\r\n", false
	case "TYPE":
		if _, ok := keys[clip(args[1], redisMaxKey)]; ok {
			return "+string\r\n", false
		}
		return "+none\r\n", false
	case "TTL":
		return ":-1\r\n", false
	case "SCAN":
		return "*2\r\n$1\r\n0\r\n*0\r\n", false
	case "CONFIG":
		if strings.EqualFold(args[1], "GET") && len(args) == 3 {
			return array(redisConfigGet(args[2])...), false
		}
		return "+OK\r\n", false
	case "COMMAND", "HELLO":
		return "*0\r\n", false
	case "EVAL":
		return "-ERR Error running script (call to f_0): @user_script:1: Script attempted to access nonexistent global variable\r\n", false
	case "BGSAVE":
		return "+Background saving started\r\n", false
	}
	// SELECT, FLUSHALL, FLUSHDB, SAVE, SLAVEOF, REPLICAOF, MODULE,
	// CLIENT: acknowledged, never done (no replication link is opened).
	return "+OK\r\n", false
}

func redisConfigGet(key string) []string {
	vals := map[string]string{"dir": "/var/lib/redis", "dbfilename": "dump.rdb", "requirepass": "", "maxmemory": "0", "protected-mode": "no", "bind": "* -::*", "port": "6379"}
	if v, ok := vals[strings.ToLower(key)]; ok {
		return []string{strings.ToLower(key), v}
	}
	return nil
}

func (s *Server) redisInfo() string {
	return "# Server\r\nredis_version:" + s.cfg.Redis.Version + "\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n" +
		"redis_build_id:7b8617dd94058f85\r\nredis_mode:standalone\r\nos:Linux 5.15.0-91-generic x86_64\r\narch_bits:64\r\n" +
		"gcc_version:11.4.0\r\nprocess_id:1123\r\ntcp_port:6379\r\nuptime_in_seconds:1874521\r\nuptime_in_days:21\r\n" +
		"executable:/usr/bin/redis-server\r\nconfig_file:/etc/redis/redis.conf\r\n\r\n" +
		"# Clients\r\nconnected_clients:1\r\nblocked_clients:0\r\n\r\n" +
		"# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmaxmemory:0\r\n\r\n" +
		"# Persistence\r\nloading:0\r\nrdb_last_save_time:1732780800\r\n\r\n" +
		"# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n" +
		"# Keyspace\r\ndb0:keys=12,expires=0,avg_ttl=0\r\n"
}
