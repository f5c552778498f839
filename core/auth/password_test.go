package auth_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/auth"
)

func TestHashPassword(t *testing.T) {
	t.Parallel()
	h1, err := auth.HashPassword([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	h2, err := auth.HashPassword([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(h1, h2) {
		t.Error("two hashes of one password are equal: not salted")
	}
	if bytes.Contains(h1, []byte("s3cret")) {
		t.Error("hash holds the password")
	}
	if !auth.CheckPassword(h2, []byte("s3cret")) {
		t.Error("CheckPassword refuses the right password")
	}
	if auth.CheckPassword(h1, []byte("s3cret ")) {
		t.Error("CheckPassword accepts a wrong password")
	}
	if auth.CheckPassword([]byte("not a hash"), []byte("x")) {
		t.Error("CheckPassword accepts a malformed hash")
	}
	if _, err := auth.HashPassword([]byte(strings.Repeat("x", 73))); err == nil {
		t.Error("a password past bcrypt's 72 bytes was hashed")
	}
}

// An operator may trade the hash's work factor for cheaper CONNECTs; the
// cost must be one bcrypt takes, and the hash must still check.
func TestHashPasswordCost(t *testing.T) {
	t.Parallel()
	h, err := auth.HashPasswordCost([]byte("s3cret"), auth.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(h), "$2a$04$") {
		t.Errorf("hash %q is not at cost 4", h)
	}
	if !auth.CheckPassword(h, []byte("s3cret")) || auth.CheckPassword(h, []byte("other")) {
		t.Error("a cost-4 hash does not check as the password's")
	}
	for _, cost := range []int{auth.MinCost - 1, auth.MaxCost + 1} {
		if _, err := auth.HashPasswordCost([]byte("s3cret"), cost); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("cost %d: err = %v, want auth.ErrInvalid", cost, err)
		}
	}
}
