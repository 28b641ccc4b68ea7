package diskq

import "github.com/spiderrun/spiderrun/runtime/settings"

// FromSettings returns the JOBDIR scheduler's options of the settings:
// JOBDIR_FSYNC and DUPEFILTER_DEBUG. The directory (JOBDIR, resolved by
// the caller), the spider's name, stats and the logger are the caller's.
func FromSettings(v *settings.Values) Options {
	return Options{Fsync: v.JobDirFsync, Debug: v.DupefilterDebug}
}
