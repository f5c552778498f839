package authtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mqttless/mqttless/core/auth"
)

var concurrencyTests = []test{
	{"PutSameUser", testConcurrentPutSameUser},
	{"PutUsers", testConcurrentPutUsers},
	{"PutRules", testConcurrentPutRules},
}

// workers is how many goroutines the concurrency tests run at once.
const workers = 8

// parallel runs fn(0) … fn(n-1) in goroutines released together, and
// returns their errors.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			errs[i] = fn(i)
		})
	}
	start.Done()
	done.Wait()
	return errs
}

// testConcurrentPutSameUser: of concurrent PutUser calls without replace
// of the same new name, exactly one succeeds, the others are ErrExists,
// and the stored user is the winner's.
func testConcurrentPutSameUser(e *env) {
	for round := range 3 {
		name := e.name(fmt.Sprint("u", round))
		errs := parallel(workers, func(i int) error {
			return e.st.PutUser(e.ctx, newUser(name, fmt.Sprint("hash-", i), int64(i)), false)
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				e.Fatalf("round %d: PutUser %d and %d both succeeded", round, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, auth.ErrExists):
				e.Fatalf("round %d: PutUser %d: err = %v, want nil or ErrExists", round, i, err)
			}
		}
		if winner < 0 {
			e.Fatalf("round %d: no PutUser succeeded: %v", round, errs)
		}
		e.eqUser("User", e.user(name), newUser(name, fmt.Sprint("hash-", winner), int64(winner)))
	}
}

// testConcurrentPutUsers: concurrent PutUser calls of distinct names all
// succeed and all the users are there.
func testConcurrentPutUsers(e *env) {
	want := make([]*auth.User, 2*workers)
	for i := range want {
		want[i] = newUser(e.name(fmt.Sprintf("u%02d", i)), fmt.Sprint("hash-", i), int64(i))
	}
	for i, err := range parallel(len(want), func(i int) error { return e.st.PutUser(e.ctx, want[i], i%2 == 0) }) {
		e.must(err, fmt.Sprint("PutUser ", i))
	}
	e.eqUsers("Users", e.listUsers(), want)
}

// testConcurrentPutRules: concurrent PutRule calls without ID get distinct
// IDs, and all the rules are there.
func testConcurrentPutRules(e *env) {
	got := make([]string, 2*workers)
	errs := parallel(len(got), func(i int) error {
		id, err := e.st.PutRule(e.ctx, auth.Rule{Access: auth.Publish, Filter: e.topic(fmt.Sprint(i))})
		got[i] = id
		return err
	})
	want := make([]auth.Rule, len(got))
	for i, err := range errs {
		e.must(err, fmt.Sprint("PutRule ", i))
		e.track(got[i])
		want[i] = auth.Rule{ID: got[i], Access: auth.Publish, Filter: e.topic(fmt.Sprint(i))}
	}
	if slices.Contains(got, "") || len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
		e.Fatalf("IDs assigned: %q, want distinct non-empty ones", got)
	}
	slices.SortFunc(want, func(a, b auth.Rule) int { return strings.Compare(a.ID, b.ID) })
	e.eq("Rules", e.listRules(), want)
}
