package auth_test

import (
	"bytes"
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
