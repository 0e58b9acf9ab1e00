package api

import "testing"

func TestErrantCount(t *testing.T) {
	for _, tc := range []struct {
		ranges []string
		want   uint64
		bad    bool
	}{
		{nil, 0, false},
		{[]string{"2-7"}, 1, false},
		{[]string{"2-5..7"}, 3, false},
		{[]string{"2-201-5..7"}, 3, false},
		{[]string{"1-1..10", "3-4"}, 11, false},
		{[]string{"2-7..5"}, 0, true},
		{[]string{"5..7"}, 0, true},
		{[]string{"2-x..7"}, 0, true},
		{[]string{"2-5..y"}, 0, true},
		{[]string{"2-"}, 0, true},
	} {
		got, err := errantCount(tc.ranges)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("errantCount(%q) = %d, %v; want %d, error %v", tc.ranges, got, err, tc.want, tc.bad)
		}
	}
}
