// Package pgtest starts a throwaway PostgreSQL server for tests: one
// cluster per test binary (start it in TestMain), one fresh database per
// test, everything removed at the end.
//
// It finds initdb and postgres in $LODE_PG_BIN or under
// /usr/lib/postgresql/<version>/bin (Debian's layout), else on $PATH.
// Without them, tests skip with the reason — unless LODE_REQUIRE_POSTGRES=1,
// where a missing or failing PostgreSQL fails them, so that CI cannot pass
// by skipping.
//
// PostgreSQL refuses to run as root; run as root, pgtest runs the server as
// the "postgres" OS user (which Debian's package creates) and gives it the
// cluster's directory.
//
//	var cluster *pgtest.Cluster
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }
//
//	func TestX(t *testing.T) {
//		dsn := cluster.NewDatabase(t) // skips when PostgreSQL is absent
//		...
//	}
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres says the PostgreSQL binaries were not found.
var ErrNoPostgres = errors.New("pgtest: PostgreSQL binaries (initdb, postgres) not found: install PostgreSQL (Debian: apt-get install postgresql) or set LODE_PG_BIN")

// Required reports whether LODE_REQUIRE_POSTGRES asks tests to fail rather
// than skip without PostgreSQL.
func Required() bool {
	v := os.Getenv("LODE_REQUIRE_POSTGRES")
	return v != "" && v != "0" && v != "false"
}

// Cluster is a running throwaway PostgreSQL server on 127.0.0.1.
type Cluster struct {
	dir  string // owns everything: data, socket, log
	port int
	cmd  *exec.Cmd
	done chan error // the server's exit
	log  string

	// err is why the cluster is not running (a nil *Cluster has none).
	err error

	seq      atomic.Int64
	mu       sync.Mutex
	template map[string]bool
}

// Main starts a cluster into *c, runs the tests and stops it, returning the
// exit code for os.Exit. Without PostgreSQL, *c holds the reason and tests
// that need it skip (or fail, with LODE_REQUIRE_POSTGRES=1).
func Main(m *testing.M, c **Cluster) int {
	cl, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if Required() {
			fmt.Fprintln(os.Stderr, "pgtest: LODE_REQUIRE_POSTGRES is set: failing")
			return 1
		}
		*c = &Cluster{err: err}
		return m.Run()
	}
	*c = cl
	code := m.Run()
	if err := cl.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: stop: %v\n", err)
	}
	return code
}

// binDir finds the directory with initdb and postgres.
func binDir() (string, error) {
	if d := os.Getenv("LODE_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("pgtest: LODE_PG_BIN=%s: %w", d, err)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first (numerically: 9 < 10).
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNoPostgres
}

// credential is whom to run PostgreSQL as: nil for ourselves, the postgres
// user when we are root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and PostgreSQL will not: need the postgres OS user to run it as: %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// Start initializes a cluster in a new temporary directory and starts it
// on a free loopback port. The server is tuned for tests, not durability
// (fsync off).
func Start() (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(parentDir(), "lode-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, log: filepath.Join(dir, "postgres.log"), template: map[string]bool{}}
	if cred != nil {
		// The directory MkdirTemp made is root's, mode 0700.
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	// A free port can be taken between our probe and the server's bind;
	// try a few.
	for attempt := 0; ; attempt++ {
		err = c.start(bin, data, cred)
		if err == nil {
			return c, nil
		}
		if attempt == 2 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// parentDir is where the cluster's directory goes: $LODE_PGTEST_DIR, else
// /dev/shm when it is a roomy tmpfs (creating a database there takes tens
// of milliseconds, against hundreds on a disk), else the temp directory.
func parentDir() string {
	if d := os.Getenv("LODE_PGTEST_DIR"); d != "" {
		return d
	}
	const shm = "/dev/shm"
	var st syscall.Statfs_t
	if err := syscall.Statfs(shm, &st); err == nil && uint64(st.Bavail)*uint64(st.Bsize) >= 2<<30 {
		if f, err := os.CreateTemp(shm, "lode-pgtest-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return shm
		}
	}
	return os.TempDir()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) start(bin, data string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+c.dir,
		"-c", "max_connections=600", // tests in parallel, a pool each
		"-c", "shared_buffers=64MB",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		// Containers often give /dev/shm only a few MB.
		"-c", "dynamic_shared_memory_type=mmap",
		// Bound the WAL kept: the directory may be a tmpfs.
		"-c", "max_wal_size=256MB",
		"-c", "min_wal_size=32MB",
	)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: if the test binary dies, so does the server. It fires
	// when the thread that started the child exits, so the child is
	// started from a goroutine locked to its thread for the child's life.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine, after the child
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	c.cmd, c.done, c.port = cmd, done, port
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case werr := <-done:
			return fmt.Errorf("pgtest: postgres exited (%v) before accepting connections:\n%s", werr, c.logTail())
		case <-ctx.Done():
			c.kill()
			return fmt.Errorf("pgtest: postgres did not accept connections in 30s: %v\n%s", err, c.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (c *Cluster) kill() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
		c.cmd = nil
	}
}

// Stop shuts the server down and removes its directory.
func (c *Cluster) Stop() error {
	if c == nil || c.dir == "" {
		return nil
	}
	if c.cmd != nil && c.cmd.Process != nil {
		// SIGINT: PostgreSQL's fast shutdown (disconnect clients, no
		// waiting for them); SIGQUIT if that takes too long.
		c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			c.kill()
		}
		c.cmd = nil
	}
	return os.RemoveAll(c.dir)
}

// Err says why the cluster is not running; nil when it is.
func (c *Cluster) Err() error {
	if c == nil {
		return errors.New("pgtest: no cluster (call pgtest.Main from TestMain)")
	}
	return c.err
}

// Port is the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// DSN is the URL of database db as the superuser postgres.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// Require skips t (or fails it, with LODE_REQUIRE_POSTGRES=1) when the
// cluster is not running.
func (c *Cluster) Require(t testing.TB) {
	t.Helper()
	if err := c.Err(); err != nil {
		if Required() {
			t.Fatalf("PostgreSQL required (LODE_REQUIRE_POSTGRES=1): %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
}

// exec runs statements on the postgres maintenance database.
func (c *Cluster) exec(ctx context.Context, sqls ...string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range sqls {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// CreateTemplate creates database name once and calls prepare with its DSN
// (to migrate it, say); NewDatabaseFrom then copies it, which is faster
// than preparing every database. prepare must close its connections.
func (c *Cluster) CreateTemplate(ctx context.Context, name string, prepare func(dsn string) error) error {
	if err := c.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.template[name] {
		return nil
	}
	if err := c.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return err
	}
	if prepare != nil {
		if err := prepare(c.DSN(name)); err != nil {
			return err
		}
	}
	c.template[name] = true
	return nil
}

// NewDatabase creates an empty database for t, dropped when t ends, and
// returns its DSN. It skips t when PostgreSQL is not running (see
// Require).
func (c *Cluster) NewDatabase(t testing.TB) string {
	return c.NewDatabaseFrom(t, "template0")
}

// templateMu serializes copies: CREATE DATABASE fails when another session
// is copying the same template at that moment.
var templateMu sync.Mutex

// NewDatabaseFrom is NewDatabase with a copy of template.
func (c *Cluster) NewDatabaseFrom(t testing.TB, template string) string {
	t.Helper()
	c.Require(t)
	name := fmt.Sprintf("t%d_%s", c.seq.Add(1), sanitize(t.Name()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	templateMu.Lock()
	err := c.exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize()))
	templateMu.Unlock()
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	return c.DSN(name)
}

// sanitize keeps a test name readable in a database name (at most 63
// bytes in all).
func sanitize(s string) string {
	s = strings.ToLower(s)
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' {
			b = append(b, ch)
		} else if len(b) > 0 && b[len(b)-1] != '_' {
			b = append(b, '_')
		}
	}
	if len(b) > 40 {
		b = b[len(b)-40:]
	}
	return string(b)
}
