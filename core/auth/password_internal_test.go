package auth

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// The dummy hash an unknown user is compared against costs as much as a
// real one, so that both refusals take as long.
func TestDummyHashCost(t *testing.T) {
	cost, err := bcrypt.Cost(dummyHash)
	if err != nil || cost != bcrypt.DefaultCost {
		t.Fatalf("dummy hash cost %d (%v), want %d", cost, err, bcrypt.DefaultCost)
	}
}
