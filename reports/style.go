package reports

import "strings"

// Style is the HTML report's stylesheet (the inside of its <style>
// element), for pages that must look like the report (a drill's debrief).
// It is read from the report's template so the look lives in one place.
func Style() string {
	_, after, ok := strings.Cut(reportTmpl, "<style>")
	if !ok {
		return ""
	}
	css, _, _ := strings.Cut(after, "</style>")
	return css
}
