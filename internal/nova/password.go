package nova

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
)

// PasswordLength is the length of a generated rescue password.
const PasswordLength = 24

// passwordAlphabet has letters and digits without the look-alikes 0/O, 1/l/I.
const passwordAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

// GeneratePassword returns a random rescue password of n characters (crypto/rand) with at
// least one upper-case letter, one lower-case letter and one digit.
func GeneratePassword(n int) (string, error) {
	if n < 3 {
		return "", fmt.Errorf("password length %d is too short", n)
	}
	size := big.NewInt(int64(len(passwordAlphabet)))
	for {
		var sb strings.Builder
		for range n {
			i, err := rand.Int(rand.Reader, size)
			if err != nil {
				return "", fmt.Errorf("generate a rescue password: %w", err)
			}
			sb.WriteByte(passwordAlphabet[i.Int64()])
		}
		p := sb.String()
		if strings.ContainsAny(p, "ABCDEFGHJKLMNPQRSTUVWXYZ") &&
			strings.ContainsAny(p, "abcdefghijkmnopqrstuvwxyz") &&
			strings.ContainsAny(p, "23456789") {
			return p, nil
		}
	}
}
