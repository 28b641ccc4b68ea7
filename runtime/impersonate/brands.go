package impersonate

import "fmt"

// GreasedBrands is the sec-ch-ua value Chromium (since 103) sends for
// major version major: the Chromium brand, the embedder's own brand
// ("Google Chrome", "Microsoft Edge"; "" for unbranded Chromium, as
// Debian's) and a GREASE brand, all three derived from the major version
// as in Chromium's components/embedder_support/user_agent_utils.cc: the
// GREASE name takes its two characters from a table of 11 at major and
// major+1, its version from "8", "99", "24" at major, and the list's
// order is the permutation major mod 6 of three (major mod 2 of two).
// It reproduces the captured Chromium 148 and 156 lists and the
// published Chrome 106-133 ones (TestGreasedBrands).
func GreasedBrands(major int, brand string) string {
	chars := []string{" ", "(", ":", "-", ".", "/", ")", ";", "=", "?", "_"}
	versions := []string{"8", "99", "24"}
	grease := fmt.Sprintf(`"Not%sA%sBrand";v="%s"`, chars[major%11], chars[(major+1)%11], versions[major%3])
	chromium := fmt.Sprintf(`"Chromium";v="%d"`, major)
	if brand == "" {
		if major%2 == 0 {
			return grease + ", " + chromium
		}
		return chromium + ", " + grease
	}
	orders := [6][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	o := orders[major%6]
	var list [3]string
	list[o[0]], list[o[1]], list[o[2]] = grease, chromium, fmt.Sprintf(`%q;v="%d"`, brand, major)
	return list[0] + ", " + list[1] + ", " + list[2]
}
