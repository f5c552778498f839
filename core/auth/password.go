package auth

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// HashPassword returns the salted bcrypt hash of password at
// bcrypt.DefaultCost, to keep in User.Hash. bcrypt reads at most 72 bytes:
// a longer password is refused with an error.
func HashPassword(password []byte) ([]byte, error) {
	return HashPasswordCost(password, bcrypt.DefaultCost)
}

// Password hash costs HashPasswordCost takes: bcrypt's work factor, each
// step doubling the CPU time of every check of the password.
const (
	MinCost     = bcrypt.MinCost     // 4: about 1 ms a check
	DefaultCost = bcrypt.DefaultCost // 10: about 60-100 ms a check on one core
	MaxCost     = bcrypt.MaxCost
)

// HashPasswordCost is HashPassword at the given bcrypt cost (MinCost to
// MaxCost). A lower cost makes every CONNECT with that password cheaper
// and a stolen hash cheaper to guess; see the README ("Users").
func HashPasswordCost(password []byte, cost int) ([]byte, error) {
	if cost < MinCost || cost > MaxCost {
		return nil, fmt.Errorf("auth: hash password: %w: cost %d is not from %d to %d", ErrInvalid, cost, MinCost, MaxCost)
	}
	h, err := bcrypt.GenerateFromPassword(password, cost)
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
