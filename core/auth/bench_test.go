package auth_test

import (
	"fmt"
	"testing"

	"github.com/mqttless/mqttless/core/auth"
)

// BenchmarkMayReceive is the check the broker makes for each message it
// delivers, against 100 rules (98 of other users), from the cache.
func BenchmarkMayReceive(b *testing.B) {
	store := newFakeStore()
	for i := range 98 {
		store.rules = append(store.rules, forUser(fmt.Sprintf("user%d", i), both("devices/%u/#")))
	}
	store.rules = append(store.rules, forUser("alice", both("devices/%u/#")), denyBoth("devices/+/secrets/#"))
	c := auth.NewChecker(store, auth.Options{})
	for b.Loop() {
		if ok, err := c.MayReceive(b.Context(), "alice", "", "devices/alice/kitchen/temp"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkExists is the check, from the cache, that a subscriber's user
// still exists.
func BenchmarkExists(b *testing.B) {
	store := newFakeStore()
	if err := store.PutUser(b.Context(), &auth.User{Name: "alice"}, false); err != nil {
		b.Fatal(err)
	}
	c := auth.NewChecker(store, auth.Options{})
	id := auth.Identity{User: "alice"}
	for b.Loop() {
		if ok, err := c.Exists(b.Context(), id); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
