package ecrevent

import "testing"

func BenchmarkClassify(b *testing.B) {
	raw := readFixture(b, "inspector2-finding-ecr.json")
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Classify(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePush(b *testing.B) {
	raw := readFixture(b, "ecr-image-action-push.json")
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := DecodePush(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFinding(b *testing.B) {
	raw := readFixture(b, "inspector2-finding-ecr.json")
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := DecodeFinding(raw); err != nil {
			b.Fatal(err)
		}
	}
}
