package synth_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/cohort-clv/cohort/synth"
)

// A CDNOW-like shop of three customers, written as CSV.
func ExampleWriteCSV() {
	cfg := synth.DefaultConfig(synth.BGNBD)
	cfg.Customers = 3
	if err := synth.WriteCSV(context.Background(), os.Stdout, cfg); err != nil {
		fmt.Println(err)
	}
	// Output:
	// customer_id,date,amount
	// c0000001,1997-01-15,14.92
	// c0000002,1997-01-25,38.38
	// c0000002,1997-03-25,136.90
	// c0000002,1997-07-05,84.14
	// c0000002,1997-10-15,142.43
	// c0000003,1997-01-03,19.94
}

// Streaming transactions of a Pareto/NBD shop with custom parameters, here to
// count the customers who never came back.
func ExampleGenerate() {
	cfg := synth.Config{
		Params: synth.Params{
			Process: synth.ParetoNBD,
			R:       0.5, Alpha: 10, // about one purchase every 20 weeks on average
			S: 0.6, Beta: 12, // mean lifetime rate 0.05 per week
			P: 6, Q: 4, Gamma: 15, // mean spend 6*15/3 = $30
		},
		Customers:  1000,
		Start:      time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		CohortDays: 84,
		End:        time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC),
		Seed:       42,
	}
	purchases := map[string]int{}
	err := synth.Generate(context.Background(), cfg, func(tx synth.Transaction) error {
		purchases[tx.Customer]++
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	once := 0
	for _, n := range purchases {
		if n == 1 {
			once++
		}
	}
	fmt.Printf("%d customers, %d bought only once\n", len(purchases), once)
	// Output:
	// 1000 customers, 617 bought only once
}
