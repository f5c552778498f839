package authtest

import (
	"slices"
	"strings"

	"github.com/mqttless/mqttless/core/auth"
)

var userTests = []test{
	{"PutNew", testPutUserNew},
	{"Exists", testPutUserExists},
	{"Replace", testPutUserReplace},
	{"NotFound", testUserNotFound},
	{"Delete", testDeleteUser},
	{"Ordered", testUsersOrdered},
	{"Hash", testUserHash},
	{"Names", testUserNames},
	{"Invalid", testUserInvalid},
	{"Copies", testUserCopies},
}

// bcrypt is a bcrypt hash, as the broker stores them.
const bcrypt = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"

// testPutUserNew: PutUser of a new user stores it as given, with replace or
// without.
func testPutUserNew(e *env) {
	a, b := newUser(e.name("a"), bcrypt, 1_700_000_000_123), newUser(e.name("b"), "other", -1)
	a.ClientIDs = "%u-*"
	e.putUser(a, false)
	e.putUser(b, true)
	e.eqUser("User a", e.user(a.Name), a)
	e.eqUser("User b", e.user(b.Name), b)
	e.eqUsers("Users", e.listUsers(), []*auth.User{a, b})
}

// testPutUserExists: PutUser without replace of a user that exists is
// ErrExists and changes nothing.
func testPutUserExists(e *env) {
	name := e.name("u")
	u := newUser(name, "first", 1)
	e.putUser(u, false)
	e.wantErr(e.st.PutUser(e.ctx, newUser(name, "second", 2), false), auth.ErrExists, "PutUser of an existing user")
	e.eqUser("User", e.user(name), u)
	e.eqUsers("Users", e.listUsers(), []*auth.User{u})
}

// testPutUserReplace: PutUser with replace replaces a user that exists,
// every field, and adds one that does not.
func testPutUserReplace(e *env) {
	name := e.name("u")
	e.putUser(newUser(name, "first", 1), false)
	u := newUser(name, "second", 2)
	u.ClientIDs = "%u"
	e.putUser(u, true)
	e.eqUser("User after replacing", e.user(name), u)
	e.eqUsers("Users after replacing", e.listUsers(), []*auth.User{u})
	empty := &auth.User{Name: name}
	e.putUser(empty, true)
	e.eqUser("User replaced by one without hash", e.user(name), empty)
}

// testUserNotFound: User of a name that was never added is ErrNotFound,
// names being case sensitive.
func testUserNotFound(e *env) {
	e.noUser(e.name("missing"))
	e.noUser("")
	name := e.name("Alice")
	e.putUser(newUser(name, "h", 1), false)
	e.noUser(e.name("alice"))
	e.noUser(e.name("ALICE"))
	e.noUser(name + " ")
	e.noUser(name[:len(name)-1])
}

// testDeleteUser: DeleteUser removes one user, and no other (not one whose
// name it is a prefix of), and is ErrNotFound for a user that does not
// exist; the name can then be added again.
func testDeleteUser(e *env) {
	n, sub, longer := e.name("x"), e.name("x/y"), e.name("xx")
	for _, name := range []string{n, sub, longer} {
		e.putUser(newUser(name, "h-"+name, 1), false)
	}
	e.must(e.st.DeleteUser(e.ctx, n), "DeleteUser")
	e.noUser(n)
	e.eq("Users after DeleteUser", names(e.listUsers()), []string{sub, longer})
	e.eqUser("User of another", e.user(sub), newUser(sub, "h-"+sub, 1))
	e.wantErr(e.st.DeleteUser(e.ctx, n), auth.ErrNotFound, "DeleteUser of a deleted user")
	e.wantErr(e.st.DeleteUser(e.ctx, e.name("never")), auth.ErrNotFound, "DeleteUser of an unknown user")
	e.wantErr(e.st.DeleteUser(e.ctx, ""), auth.ErrNotFound, "DeleteUser of the empty name")
	u := newUser(n, "again", 3)
	e.putUser(u, false)
	e.eqUser("User added again", e.user(n), u)
	e.eq("Users", names(e.listUsers()), []string{n, sub, longer})
}

// testUsersOrdered: Users returns every user ordered by name (byte order),
// whatever the order they were added in.
func testUsersOrdered(e *env) {
	suffixes := []string{"b", "a", "é", "c", "a/b", "Z", "a b", "名", "0", "~", "a#", "🙂", "ab"}
	var want []*auth.User
	for i, s := range suffixes {
		u := newUser(e.name(s), "hash-"+s, int64(i))
		e.putUser(u, false)
		want = append(want, u)
	}
	slices.SortFunc(want, func(a, b *auth.User) int { return strings.Compare(a.Name, b.Name) })
	e.eqUsers("Users", e.listUsers(), want)
	// After a deletion and a replacement, still in order.
	e.must(e.st.DeleteUser(e.ctx, want[3].Name), "DeleteUser")
	want[5] = newUser(want[5].Name, "replaced", 99)
	e.putUser(want[5], true)
	want = slices.Delete(want, 3, 4)
	e.eqUsers("Users after a deletion and a replacement", e.listUsers(), want)
}

// testUserHash: hashes of any bytes come back exactly, from User and from
// Users.
func testUserHash(e *env) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	hashes := map[string][]byte{
		"bcrypt": []byte(bcrypt),
		"bytes":  all,
		"zeros":  make([]byte, 60),
		"ff":     []byte(strings.Repeat("\xff", 60)),
		"one":    {0},
		"utf8":   []byte("пароль-密码"),
		"long":   []byte(strings.Repeat("0123456789abcdef", 64)),
		"empty":  {},
		"nil":    nil,
	}
	var want []*auth.User
	for s, h := range hashes {
		u := &auth.User{Name: e.name(s), Hash: h, Created: 42}
		e.putUser(u, false)
		e.eqUser("User "+s, e.user(u.Name), u)
		want = append(want, u)
	}
	slices.SortFunc(want, func(a, b *auth.User) int { return strings.Compare(a.Name, b.Name) })
	e.eqUsers("Users", e.listUsers(), want)
}

// nameSuffixes are parts of user names and rule IDs with the characters a
// store might mistreat.
var nameSuffixes = []string{
	"ünïcødé-名前-🙂", "a/b/c", "/", "#", "+", "a/+/#", "with spaces", " lead", "trail ",
	"%u%c", "U#", "R#", "USERS", "\"quoted'", `back\slash`, "tab\there", "dots..", "$SYS/x", "*", "?",
}

// testUserNames: users whose names hold unicode, '/', '#', '+', spaces and
// other special characters are added, read, listed and deleted like any
// other.
func testUserNames(e *env) {
	var want []*auth.User
	for i, s := range nameSuffixes {
		u := newUser(e.name(s), "h"+s, int64(i))
		e.putUser(u, false)
		e.eqUser("User "+u.Name, e.user(u.Name), u)
		want = append(want, u)
	}
	slices.SortFunc(want, func(a, b *auth.User) int { return strings.Compare(a.Name, b.Name) })
	e.eqUsers("Users", e.listUsers(), want)
	for _, u := range want {
		e.wantErr(e.st.PutUser(e.ctx, newUser(u.Name, "x", 0), false), auth.ErrExists, "PutUser of existing "+u.Name)
		e.must(e.st.DeleteUser(e.ctx, u.Name), "DeleteUser "+u.Name)
		e.noUser(u.Name)
	}
	e.eqUsers("Users after deleting them all", e.listUsers(), nil)
}

// testUserInvalid: PutUser of a nil user, of an empty name or of a name
// that is not UTF-8 is ErrInvalid and stores nothing.
func testUserInvalid(e *env) {
	for _, replace := range []bool{false, true} {
		e.wantErr(e.st.PutUser(e.ctx, nil, replace), auth.ErrInvalid, "PutUser of nil")
		e.wantErr(e.st.PutUser(e.ctx, newUser("", "h", 1), replace), auth.ErrInvalid, "PutUser of the empty name")
		bad := e.name("bad\xff\xfe")
		e.wantErr(e.st.PutUser(e.ctx, newUser(bad, "h", 1), replace), auth.ErrInvalid, "PutUser of a name that is not UTF-8")
	}
	e.noUser("")
	e.eqUsers("Users", e.listUsers(), nil)
}

// testUserCopies: changing the hash of a user passed to PutUser or
// returned by User or Users does not change the stored user.
func testUserCopies(e *env) {
	name := e.name("u")
	u := newUser(name, "hash", 1)
	e.putUser(u, false)
	u.Hash[0] = 'X'
	want := newUser(name, "hash", 1)
	e.eqUser("User after changing the hash passed in", e.user(name), want)
	got := e.user(name)
	got.Hash[0] = 'Y'
	e.eqUser("User after changing the hash returned", e.user(name), want)
	us := e.listUsers()
	if len(us) != 1 {
		e.Fatalf("Users: %s, want one user", show(us))
	}
	us[0].Hash[0] = 'Z'
	e.eqUser("User after changing the hash Users returned", e.user(name), want)
	r := newUser(name, "replaced", 2)
	e.putUser(r, true)
	r.Hash[0] = 'W'
	e.eqUser("User after changing the hash of a replacement", e.user(name), newUser(name, "replaced", 2))
}
