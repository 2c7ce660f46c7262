package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// moduleRoot finds the folder of Plinth's go.mod, from dir upwards.
func moduleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/plinth-dev/plinth\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the Plinth module: run the harness from its repository")
		}
		dir = parent
	}
}

// build compiles a main package of the module into out.
func build(ctx context.Context, root, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago. Choosing the port before
// the server starts lets the harness time start-up by polling /readyz from the first instant.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// process is a server the harness started. Stop ends it by its PID.
type process struct {
	name    string
	addr    string
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	exited  chan struct{}
	err     error // the exit status, once exited is closed
	ready   time.Duration

	pprofAddr string // where bench/profserver serves net/http/pprof, when it is the server
}

// start runs bin with args (which must make it listen on addr), and env added to the
// harness's environment, and waits until GET /readyz answers 200, at most within limit. Its
// output goes to logPath.
func start(ctx context.Context, name, bin, addr, logPath string, limit time.Duration, env []string, args ...string) (*process, error) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// The server dies with the harness, even when the harness is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &process{name: name, addr: addr, cmd: cmd, logPath: logPath, log: f, exited: make(chan struct{})}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	client := &http.Client{Timeout: time.Second}
	url := "http://" + addr + "/readyz"
	deadline := t0.Add(limit)
	for {
		res, err := client.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				p.ready = time.Since(t0)
				client.CloseIdleConnections()
				return p, nil
			}
		}
		select {
		case <-p.exited:
			p.log.Close()
			return nil, fmt.Errorf("%s exited before it was ready (%v); its log:\n%s", name, p.err, tail(logPath))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s was not ready within %s; its log:\n%s", name, limit, tail(logPath))
		}
	}
}

// stop sends SIGTERM to the process, and SIGKILL if it has not exited 15 s later. It is safe
// to call more than once. It returns the exit error of a process that did not stop cleanly.
func (p *process) stop() error {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
	p.log.Close()
	if p.err != nil {
		return fmt.Errorf("%s (pid %d): %w", p.name, p.cmd.Process.Pid, p.err)
	}
	return nil
}

// alive reports whether the process is still running.
func (p *process) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func (p *process) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// cpuTime is the CPU time (user and system) the process has used so far.
func (p *process) cpuTime() (time.Duration, error) { return cpuOf(p.cmd.Process.Pid) }

// cpuOf is the CPU time (user and system) a process has used so far.
func cpuOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces; the fields after it are plain.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const ticks = 100 // USER_HZ, 100 on every Linux the harness runs on
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// diskWrites is how many bytes the process has sent to storage so far (write_bytes of
// /proc/PID/io): for SQLite in WAL mode, mostly WAL frames and checkpoints.
func (p *process) diskWrites() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "write_bytes:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("no write_bytes in /proc/PID/io")
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux ≥ 4.0), so that each
// scenario reports its own peak. It reports whether the kernel allowed it.
func (p *process) resetPeakRSS() bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0) == nil
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}
