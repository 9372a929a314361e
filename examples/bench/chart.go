package main

import (
	"fmt"
	"image/color"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// seriesStyle gives each client a fixed colour and dash pattern, so the
// chart reads the same in every run and in greyscale.
var seriesStyle = map[string]struct {
	color  color.Color
	dashes []vg.Length
}{
	clientBaseline:     {color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff}, nil},
	clientOAuth2:       {color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, []vg.Length{vg.Points(4), vg.Points(2)}},
	clientTokenrefresh: {color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, nil},
}

// writeChart plots the worst latency per window over time for each client,
// on a log scale so that both sub-millisecond requests and requests
// waiting on the token endpoint are visible, and saves it as SVG.
func writeChart(path string, series []Series, cfg Config) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Expiry boundary: worst latency per %v, %d goroutines, token lifetime %v, token endpoint %v",
		window, cfg.Goroutines, cfg.TTL, cfg.Latency)
	p.X.Label.Text = "time since start (s)"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	for _, s := range series {
		pts := make(plotter.XYs, len(s.T))
		for i := range s.T {
			pts[i].X = time.Duration(s.T[i]).Seconds()
			// The log scale needs positive values.
			pts[i].Y = max(float64(s.Max[i])/float64(time.Millisecond), 0.01)
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("chart %s: %w", s.Client, err)
		}
		st := seriesStyle[s.Client]
		line.LineStyle = draw.LineStyle{Color: st.color, Width: vg.Points(1.2), Dashes: st.dashes}
		p.Add(line)
		p.Legend.Add(s.Client, line)
	}
	return p.Save(12*vg.Inch, 5*vg.Inch, path)
}
