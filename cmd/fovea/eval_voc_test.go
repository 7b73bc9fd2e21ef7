package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEvalVOCGolden(t *testing.T) {
	dir := "../../testdata/metrics/voc"
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Year int
		IoU  float64
		MAP  float64 `json:"mAP"`
		AP   map[string]float64
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	if len(cases) == 0 || len(cases[0].AP) == 0 {
		t.Fatalf("expected.json holds %d cases: nothing would be checked", len(cases))
	}
	for _, c := range cases {
		tmp := t.TempDir()
		jsonPath, png := filepath.Join(tmp, "voc.json"), filepath.Join(tmp, "pr.png")
		out, err := runFovea(t, "eval", "voc", "--annotations", dir+"/Annotations", "--dets", dir+"/dets",
			"--year", evalItoa(c.Year), "--iou", evalFtoa(c.IoU), "--json", jsonPath, "--pr-curve", png)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "mAP = ") {
			t.Errorf("no mAP line in output:\n%s", out)
		}
		var got struct {
			MAP float64 `json:"mAP"`
			AP  map[string]float64
		}
		b, err := os.ReadFile(jsonPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.MAP != c.MAP || len(got.AP) != len(c.AP) {
			t.Errorf("year %d iou %v: %+v, want mAP %v AP %v", c.Year, c.IoU, got, c.MAP, c.AP)
		}
		for k, v := range c.AP {
			if got.AP[k] != v {
				t.Errorf("year %d iou %v: AP[%s] = %v, want %v", c.Year, c.IoU, k, got.AP[k], v)
			}
		}
		if st, err := os.Stat(png); err != nil || st.Size() == 0 {
			t.Errorf("--pr-curve wrote no chart: %v", err)
		}
	}
}

func TestEvalVOCErrors(t *testing.T) {
	dir := "../../testdata/metrics/voc"
	tmp := t.TempDir()
	write := func(name, s string) {
		os.MkdirAll(filepath.Dir(filepath.Join(tmp, name)), 0o755)
		os.WriteFile(filepath.Join(tmp, name), []byte(s), 0o644)
	}
	write("dets1/cat.txt", "")
	write("dets1/dog.txt", "")
	write("dets2/cat.txt", "")
	write("dets2/dog.txt", "")
	write("dets2/person.txt", "")
	write("dets2/horse.txt", "")
	write("dets3/cat.txt", "999999 0.5 1 1 5 5\n")
	write("dets3/dog.txt", "")
	write("dets3/person.txt", "")
	write("ann/a.xml", "<annotation><object><name>cat</name>")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--annotations", dir + "/Annotations", "--dets", tmp + "/dets1", "--year", "2007"}, "person.txt"},
		{[]string{"--annotations", dir + "/Annotations", "--dets", tmp + "/dets2", "--year", "2007"}, `horse.txt: class "horse" appears in no annotation`},
		{[]string{"--annotations", dir + "/Annotations", "--dets", tmp + "/dets3", "--year", "2007"}, `cat.txt: image "999999" has no annotation`},
		{[]string{"--annotations", tmp + "/ann", "--dets", tmp + "/dets3", "--year", "2007"}, "a.xml: malformed VOC XML"},
		{[]string{"--annotations", tmp + "/none", "--dets", tmp + "/dets3", "--year", "2007"}, "no such file"},
		{[]string{"--annotations", dir + "/Annotations", "--dets", tmp + "/dets3", "--year", "2003"}, "--year = 2003"},
	} {
		_, err := runFovea(t, append([]string{"eval", "voc", "--iou", "0.5"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}
