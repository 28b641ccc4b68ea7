package diskq

import "github.com/spiderrun/spiderrun/runtime/settings"

// FromSettings returns the JOBDIR scheduler's options of the settings:
// JOBDIR_FSYNC, DUPEFILTER_DEBUG, and the dupefilter's filter
// (DUPEFILTER_EXPECTED_URLS, DUPEFILTER_FP_RATE). The directory (JOBDIR,
// resolved by the caller), the spider's name, stats and the logger are the
// caller's.
func FromSettings(v *settings.Values) Options {
	return Options{Fsync: v.JobDirFsync, Debug: v.DupefilterDebug,
		ExpectedURLs: v.DupefilterExpectedURLs, FPRate: v.DupefilterFpRate}
}
