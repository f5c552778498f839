package dynamo_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/auth/authtest"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// TestAuthContract runs the auth contract suite on the test run's table,
// shared by every test: the suite looks only at the users and rules each
// test created (see authtest).
func TestAuthContract(t *testing.T) {
	skipWithoutTable(t)
	st := dynamo.New(db, table)
	authtest.Run(t, func(*testing.T) auth.Store { return st })
}

// TestAuthItems checks the layout of the package documentation: a user is
// its user item and its entry in the user list, written and deleted
// together; a rule is an item of the ACL partition.
func TestAuthItems(t *testing.T) {
	skipWithoutTable(t)
	t.Parallel()
	ctx := t.Context()
	st := dynamo.New(db, table)
	name := "TestAuthItems-" + t.Name() + "/ü #+"
	if err := st.PutUser(ctx, &auth.User{Name: name, Hash: []byte("h"), Created: 1}, false); err != nil {
		t.Fatal(err)
	}
	id, err := st.PutRule(ctx, auth.Rule{User: name, Access: auth.Publish, Filter: "x"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.DeleteRule(t.Context(), id) })
	items := func() (user, list, rule bool) {
		t.Helper()
		for _, k := range []struct {
			pk, sk string
			found  *bool
		}{{"U#" + name, "U", &user}, {"USERS", "U#" + name, &list}, {"ACL", "R#" + id, &rule}} {
			it, err := st.Item(ctx, k.pk, k.sk)
			if err != nil {
				t.Fatal(err)
			}
			*k.found = it != nil
		}
		return
	}
	if u, l, r := items(); !u || !l || !r {
		t.Fatalf("items after PutUser and PutRule: user %v, list entry %v, rule %v; want all", u, l, r)
	}
	if err := st.DeleteUser(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteRule(ctx, id); err != nil {
		t.Fatal(err)
	}
	if u, l, r := items(); u || l || r {
		t.Fatalf("items after DeleteUser and DeleteRule: user %v, list entry %v, rule %v; want none", u, l, r)
	}
}

// TestAuthKeyLimits: user names and rule IDs are sort keys, at most 1022
// bytes; longer ones are ErrInvalid to put and not found to read or
// delete, without a call that DynamoDB would refuse.
func TestAuthKeyLimits(t *testing.T) {
	skipWithoutTable(t)
	t.Parallel()
	ctx := t.Context()
	st := dynamo.New(db, table)
	prefix := "TestAuthKeyLimits-"
	longest := prefix + strings.Repeat("é", (1022-len(prefix))/2)
	longest += strings.Repeat("x", 1022-len(longest))
	if err := st.PutUser(ctx, &auth.User{Name: longest, Hash: []byte("h")}, true); err != nil {
		t.Fatalf("PutUser of a %d-byte name: %v", len(longest), err)
	}
	if u, err := st.User(ctx, longest); err != nil || u.Name != longest {
		t.Fatalf("User of a %d-byte name: %v, %v", len(longest), u, err)
	}
	if err := st.DeleteUser(ctx, longest); err != nil {
		t.Fatalf("DeleteUser of a %d-byte name: %v", len(longest), err)
	}
	if _, err := st.PutRule(ctx, auth.Rule{ID: longest, Access: auth.Both, Filter: "#"}); err != nil {
		t.Fatalf("PutRule of a %d-byte ID: %v", len(longest), err)
	}
	if err := st.DeleteRule(ctx, longest); err != nil {
		t.Fatalf("DeleteRule of a %d-byte ID: %v", len(longest), err)
	}
	tooLong := longest + "x"
	if err := st.PutUser(ctx, &auth.User{Name: tooLong}, true); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("PutUser of a %d-byte name: %v, want ErrInvalid", len(tooLong), err)
	}
	if _, err := st.User(ctx, tooLong); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("User of a %d-byte name: %v, want ErrNotFound", len(tooLong), err)
	}
	if err := st.DeleteUser(ctx, tooLong); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("DeleteUser of a %d-byte name: %v, want ErrNotFound", len(tooLong), err)
	}
	if _, err := st.PutRule(ctx, auth.Rule{ID: tooLong, Access: auth.Both, Filter: "#"}); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("PutRule of a %d-byte ID: %v, want ErrInvalid", len(tooLong), err)
	}
	if err := st.DeleteRule(ctx, tooLong); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("DeleteRule of a %d-byte ID: %v, want ErrNotFound", len(tooLong), err)
	}
}

// A DeleteRule whose answer is lost, and that the SDK sends again,
// succeeds: the rule is gone, and deleting it is not "not found" (the
// resend met its own deletion). mqttless-admin acl remove said "no rule"
// in CI when moto dropped a connection so.
func TestDeleteRuleResent(t *testing.T) {
	skipWithoutTable(t)
	t.Parallel()
	ctx := t.Context()
	client, la := loseAnswerClient(`"R#`, "DeleteItem", "TransactWriteItems")
	st := dynamo.New(client, table)
	id, err := st.PutRule(ctx, auth.Rule{ClientID: "TestDeleteRuleResent", Access: auth.Publish, Filter: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteRule(ctx, id); err != nil {
		t.Fatalf("DeleteRule: %v", err)
	}
	if !la.lost.Load() {
		t.Fatal("no answer was lost")
	}
	if it, err := st.Item(ctx, "ACL", "R#"+id); err != nil || it != nil {
		t.Fatalf("rule item after DeleteRule: %v, %v; want none", it, err)
	}
	if err := st.DeleteRule(ctx, id); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("second DeleteRule: %v, want ErrNotFound", err)
	}
}
