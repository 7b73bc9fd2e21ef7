package train

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows one epoch's progress: a bar with loss, learning rate,
// images per second and the remaining time.
type progress struct {
	bar    *progressbar.ProgressBar
	start  time.Time
	images float64
	desc   string
}

func newProgress(opt Options, steps int, desc string) *progress {
	p := &progress{start: time.Now(), desc: desc}
	if opt.Progress {
		p.bar = progressbar.NewOptions(steps,
			progressbar.OptionSetWriter(opt.Log),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetWidth(24),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// skip advances the bar over batches done before a resume.
func (p *progress) skip(n int) {
	if p.bar != nil && n > 0 {
		p.bar.Set(n)
	}
}

// step records one batch of n images with its running loss and learning rate.
func (p *progress) step(loss, lr, n float64) {
	p.images += n
	if p.bar == nil {
		return
	}
	ips := p.images / time.Since(p.start).Seconds()
	p.bar.Describe(fmt.Sprintf("%s loss %.4f lr %.2e %.1f img/s", p.desc, loss, lr, ips))
	p.bar.Add(1)
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
