// Package fakekeyring is an in-memory OS keyring for tests. Unlike
// go-keyring's MockInit it is safe for concurrent use, and it can enforce the
// size limits of real keyrings, fail or hang chosen calls, and count calls.
package fakekeyring

import (
	"encoding/base64"
	"sort"
	"strings"
	"sync"

	"github.com/zalando/go-keyring"
)

// Limit selects the item size limits a Keyring enforces.
type Limit int

const (
	// Unlimited accepts items of any size, like the Secret Service.
	Unlimited Limit = iota
	// Windows rejects secrets over 2,560 bytes and services of 512 bytes
	// or more, as go-keyring does before calling CredWrite.
	Windows
	// MacOS rejects items whose service, user and secret exceed 3,000
	// bytes together, or whose go-keyring "security -i" command line
	// (with the secret base64-encoded and quoted) exceeds 4,095 bytes.
	MacOS
)

// String names the limit after its platform.
func (l Limit) String() string {
	switch l {
	case Windows:
		return "Windows"
	case MacOS:
		return "MacOS"
	}
	return "Unlimited"
}

// Op is a Keyring operation, for failure injection and call counts.
type Op string

// The operations of a Keyring.
const (
	Get    Op = "get"
	Set    Op = "set"
	Delete Op = "delete"
)

// Item is a stored secret.
type Item struct {
	Service, User, Secret string
}

// Keyring is an in-memory keyring. The zero value is not usable; call New.
type Keyring struct {
	limit Limit

	mu     sync.Mutex
	items  map[itemKey]string
	calls  map[Op]int
	faults []*fault
}

type itemKey struct{ service, user string }

type fault struct {
	op   Op
	user string // "" matches every user
	err  error
	gate *Gate
}

// Option configures New.
type Option func(*Keyring)

// WithLimit makes the keyring enforce l on Set.
func WithLimit(l Limit) Option { return func(k *Keyring) { k.limit = l } }

// New returns an empty keyring.
func New(opts ...Option) *Keyring {
	k := &Keyring{items: map[itemKey]string{}, calls: map[Op]int{}}
	for _, o := range opts {
		o(k)
	}
	return k
}

// Get returns the secret of service and user, or keyring.ErrNotFound.
func (k *Keyring) Get(service, user string) (string, error) {
	if err := k.enter(Get, user); err != nil {
		return "", err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.items[itemKey{service, user}]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return v, nil
}

// Set stores secret, or returns keyring.ErrSetDataTooBig when it breaks the
// keyring's Limit.
func (k *Keyring) Set(service, user, secret string) error {
	if err := k.enter(Set, user); err != nil {
		return err
	}
	if !k.limit.allows(service, user, secret) {
		return keyring.ErrSetDataTooBig
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.items[itemKey{service, user}] = secret
	return nil
}

// Delete removes an item, or returns keyring.ErrNotFound.
func (k *Keyring) Delete(service, user string) error {
	if err := k.enter(Delete, user); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	key := itemKey{service, user}
	if _, ok := k.items[key]; !ok {
		return keyring.ErrNotFound
	}
	delete(k.items, key)
	return nil
}

// enter counts a call and applies the first matching fault.
func (k *Keyring) enter(op Op, user string) error {
	k.mu.Lock()
	k.calls[op]++
	var match *fault
	for _, f := range k.faults {
		if f.op == op && (f.user == "" || f.user == user) {
			match = f
			break
		}
	}
	k.mu.Unlock()
	if match == nil {
		return nil
	}
	if match.gate != nil {
		match.gate.wait()
		return nil
	}
	return match.err
}

// Fail makes calls of op on user (every user when user is "") return err,
// until the returned function is called.
func (k *Keyring) Fail(op Op, user string, err error) (restore func()) {
	return k.add(&fault{op: op, user: user, err: err})
}

// Block makes calls of op on user (every user when user is "") wait until
// the returned Gate is released; they then proceed normally.
func (k *Keyring) Block(op Op, user string) *Gate {
	g := &Gate{entered: make(chan struct{}), released: make(chan struct{})}
	k.add(&fault{op: op, user: user, gate: g})
	return g
}

func (k *Keyring) add(f *fault) func() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.faults = append(k.faults, f)
	return func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		for i, g := range k.faults {
			if g == f {
				k.faults = append(k.faults[:i], k.faults[i+1:]...)
				return
			}
		}
	}
}

// Calls returns how many calls of op have started.
func (k *Keyring) Calls(op Op) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls[op]
}

// Items returns the stored items, sorted by service and user.
func (k *Keyring) Items() []Item {
	k.mu.Lock()
	defer k.mu.Unlock()
	items := make([]Item, 0, len(k.items))
	for key, v := range k.items {
		items = append(items, Item{Service: key.service, User: key.user, Secret: v})
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].Service != items[j].Service {
			return items[i].Service < items[j].Service
		}
		return items[i].User < items[j].User
	})
	return items
}

// Gate holds blocked calls until it is released.
type Gate struct {
	enterOnce, releaseOnce sync.Once
	entered, released      chan struct{}
}

// Entered is closed once a call has blocked on the gate.
func (g *Gate) Entered() <-chan struct{} { return g.entered }

// Release lets blocked and later calls proceed. It may be called repeatedly.
func (g *Gate) Release() { g.releaseOnce.Do(func() { close(g.released) }) }

func (g *Gate) wait() {
	g.enterOnce.Do(func() { close(g.entered) })
	<-g.released
}

func (l Limit) allows(service, user, secret string) bool {
	switch l {
	case Windows:
		return len(secret) <= 2560 && len(service) < 512
	case MacOS:
		return len(service)+len(user)+len(secret) <= 3000 && len(macOSCommand(service, user, secret)) <= 4095
	}
	return true
}

// macOSCommand is the line go-keyring v0.2.8 writes to "security -i".
func macOSCommand(service, user, secret string) string {
	const prefix = "go-keyring-base64:"
	return "add-generic-password -U -s " + shellQuote(service) + " -a " + shellQuote(user) +
		" -w " + shellQuote(prefix+base64.StdEncoding.EncodeToString([]byte(secret))) + "\n"
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%_-+=:,./") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
