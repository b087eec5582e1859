package probe

import (
	"testing"
	"time"
)

// TestRTOFollowsRFC6298 feeds the estimator RTT measurements and checks
// SRTT, RTTVAR and RTO after each against values computed by hand from
// RFC 6298 section 2 (K = 4, alpha = 1/8, beta = 1/4, G = 1 ms):
//
//	first R:  SRTT = R, RTTVAR = R/2
//	then R':  RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|  (with the old SRTT)
//	          SRTT   = 7/8 SRTT + 1/8 R'
//	RTO = SRTT + max(G, 4 RTTVAR)
//
// Section 2.4's one-second floor is left to the caller (ping has its own
// MinTimeout), and so is 2.5's optional ceiling.
func TestRTOFollowsRFC6298(t *testing.T) {
	ms, us := time.Millisecond, time.Microsecond
	for _, seq := range [][]struct {
		r, srtt, rttvar, rto time.Duration
	}{
		{
			{r: 100 * ms, srtt: 100 * ms, rttvar: 50 * ms, rto: 300 * ms},
			// RTTVAR = 37.5 + 5 = 42.5; SRTT = 87.5 + 15 = 102.5; RTO = 102.5 + 170
			{r: 120 * ms, srtt: 102500 * us, rttvar: 42500 * us, rto: 272500 * us},
			// RTTVAR = 31.875 + 5.625 = 37.5; SRTT = 89.6875 + 10 = 99.6875; RTO = 99.6875 + 150
			{r: 80 * ms, srtt: 99687500, rttvar: 37500 * us, rto: 249687500},
		},
		{
			// 4 RTTVAR = 200 us is below G: RTO = 100 us + 1 ms.
			{r: 100 * us, srtt: 100 * us, rttvar: 50 * us, rto: 1100 * us},
			// RTTVAR = 37.5 + 0 us; SRTT unchanged.
			{r: 100 * us, srtt: 100 * us, rttvar: 37500, rto: 1100 * us},
		},
		{
			{r: 800 * ms, srtt: 800 * ms, rttvar: 400 * ms, rto: 2400 * ms},
			// RTTVAR = 300 + 200 = 500; SRTT = 700 + 0; RTO = 700 + 2000
			{r: 0, srtt: 700 * ms, rttvar: 500 * ms, rto: 2700 * ms},
		},
	} {
		var e RTO
		if e.Valid() {
			t.Fatal("valid before any measurement")
		}
		for i, w := range seq {
			e.Update(w.r)
			if !e.Valid() || e.SRTT() != w.srtt || e.RTTVAR() != w.rttvar || e.RTO() != w.rto {
				t.Errorf("measurement %d (R = %v): SRTT %v RTTVAR %v RTO %v, want %v %v %v",
					i+1, w.r, e.SRTT(), e.RTTVAR(), e.RTO(), w.srtt, w.rttvar, w.rto)
			}
		}
	}
}
