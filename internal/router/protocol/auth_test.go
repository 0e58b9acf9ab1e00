package protocol

import "testing"

func TestNativePasswordRoundTrip(t *testing.T) {
	stage1 := Stage1Of("secret")
	stage2 := stage1.Stage2()
	salt := NewSalt()
	got, ok := VerifyNative(stage1.Scramble(salt), salt, stage2[:])
	if !ok || got != stage1 {
		t.Fatalf("a right password is refused (%v) or proves another hash", ok)
	}
	if _, ok := VerifyNative(Stage1Of("wrong").Scramble(salt), salt, stage2[:]); ok {
		t.Error("a wrong password is accepted")
	}
	if _, ok := VerifyNative(stage1.Scramble(NewSalt()), salt, stage2[:]); ok {
		t.Error("a token for another salt is accepted")
	}
	if _, ok := VerifyNative(nil, salt, nil); !ok {
		t.Error("an empty password is refused for an account without one")
	}
	if _, ok := VerifyNative(stage1.Scramble(salt), salt, nil); ok {
		t.Error("a password is accepted for an account without one")
	}
	if _, ok := VerifyNative(nil, salt, stage2[:]); ok {
		t.Error("no password is accepted for an account with one")
	}
	for _, b := range salt {
		if b == 0 || b > '~' {
			t.Fatalf("salt byte %#x is not printable", b)
		}
	}
}

func TestParseStoredHash(t *testing.T) {
	// SELECT PASSWORD('secret') in MariaDB.
	h, err := ParseStoredHash("*14E65567ABDB5135D0CFD9A70B3032C179A49EE7")
	if err != nil {
		t.Fatal(err)
	}
	stage2 := Stage1Of("secret").Stage2()
	if string(h) != string(stage2[:]) {
		t.Errorf("hash %x, want %x", h, stage2)
	}
	if h, err := ParseStoredHash(""); err != nil || h != nil {
		t.Errorf("empty hash: %x %v", h, err)
	}
	for _, bad := range []string{"14E65567ABDB5135D0CFD9A70B3032C179A49EE7", "*14E6", "*ZZE65567ABDB5135D0CFD9A70B3032C179A49EE7"} {
		if _, err := ParseStoredHash(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
