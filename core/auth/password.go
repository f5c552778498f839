package auth

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// HashPassword returns the salted bcrypt hash of password at
// bcrypt.DefaultCost, to keep in User.Hash. bcrypt reads at most 72 bytes:
// a longer password is refused with an error.
func HashPassword(password []byte) ([]byte, error) {
	h, err := bcrypt.GenerateFromPassword(password, bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("auth: hash password: %w", err)
	}
	return h, nil
}

// CheckPassword reports whether hash, from HashPassword, is the hash of
// password. It takes as long whether or not they match.
func CheckPassword(hash, password []byte) bool {
	return bcrypt.CompareHashAndPassword(hash, password) == nil
}

// dummyHash is the bcrypt hash, at bcrypt.DefaultCost, of a password no
// user has. Authenticate compares against it when the user does not exist,
// so that an unknown username takes as long to refuse as a wrong password
// and usernames cannot be found by timing.
var dummyHash = []byte("$2a$10$BNMrmbQJv.KGqJivqIXq4ujJbqUXcRuqIdNawwLHLYEAqahX5g/4u")
