package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/lode-ml/lode"
)

// Passwords are hashed with Argon2id at OWASP's recommended cost (19 MiB,
// two passes, one lane): about 30 ms here. The hash is kept as a PHC
// string, so the cost can rise later without breaking stored hashes.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPasswordLength is the shortest password accepted, as MLflow 3's.
const MinPasswordLength = 12

// maxPasswordLength bounds what is hashed (a megabyte password would cost
// nothing more to Argon2 but is certainly a mistake).
const maxPasswordLength = 1024

// CheckPassword applies the password rules.
func CheckPassword(pw string) error {
	switch {
	case len(pw) < MinPasswordLength:
		return lode.Errorf(lode.EInvalid, "Password must be at least %d characters.", MinPasswordLength)
	case len(pw) > maxPasswordLength:
		return lode.Errorf(lode.EInvalid, "Password must be at most %d bytes.", maxPasswordLength)
	case !utf8.ValidString(pw):
		return lode.Errorf(lode.EInvalid, "Password must be valid UTF-8.")
	}
	return nil
}

// HashPassword returns the PHC string of pw's Argon2id hash with a fresh
// salt.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the PHC string hash.
func VerifyPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var mem uint32
	var passes uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &passes, &threads); err != nil || mem == 0 || passes == 0 || threads == 0 || mem > 1<<22 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, passes, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// TokenPrefix starts every token's secret, so that a leaked one is easy to
// recognise (secret scanners, logs).
const TokenPrefix = "lode_"

// newSecret returns a new token secret (256 random bits) and its id.
func newSecret() (secret, id string) {
	var b [32]byte
	rand.Read(b[:])
	var i [8]byte
	rand.Read(i[:])
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), hex.EncodeToString(i[:])
}

// HashToken is the stored form of a token's secret. The secret is 256
// random bits, so a fast hash is enough: nothing can be guessed from it.
func HashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// LooksLikeToken reports whether s has a token's form.
func LooksLikeToken(s string) bool {
	return strings.HasPrefix(s, TokenPrefix) && len(s) == len(TokenPrefix)+43
}
