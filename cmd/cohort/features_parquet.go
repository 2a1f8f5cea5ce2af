package main

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/cohort-clv/cohort/clv"
)

// writeFeaturesParquet writes the columns writeFeatures writes, typed:
// customer_id and split as strings, the features as float (they are
// float32), holdout_spend as double and holdout_purchases as int64. It
// writes row groups of featuresRowGroup customers.
func writeFeaturesParquet(w io.Writer, ds *clv.Dataset, labels bool) error {
	const featuresRowGroup = 1 << 16
	group := parquet.Group{"customer_id": parquet.String(), "split": parquet.String()}
	for _, name := range ds.FeatureNames {
		group[name] = parquet.Leaf(parquet.FloatType)
	}
	if labels {
		group["holdout_spend"] = parquet.Leaf(parquet.DoubleType)
		group["holdout_purchases"] = parquet.Int(64)
	}
	want := len(ds.FeatureNames) + 2
	if labels {
		want += 2
	}
	if len(group) != want {
		return fmt.Errorf("features: write parquet: the feature names %q repeat a column name", ds.FeatureNames)
	}
	schema := parquet.NewSchema("features", group)
	// A Group orders its columns by name; find each one's index.
	col := make(map[string]int, len(group))
	for i, path := range schema.Columns() {
		col[path[0]] = i
	}
	feat := make([]int, len(ds.FeatureNames))
	for j, name := range ds.FeatureNames {
		feat[j] = col[name]
	}
	idCol, splitCol, spendCol, buysCol := col["customer_id"], col["split"], col["holdout_spend"], col["holdout_purchases"]
	pw := parquet.NewWriter(w, schema, parquet.Compression(&zstd.Codec{}))
	rows := make([]parquet.Row, 0, 1024)
	flush := func() error {
		_, err := pw.WriteRows(rows)
		rows = rows[:0]
		return err
	}
	for i := range ds.Customers {
		c := &ds.Customers[i]
		row := make(parquet.Row, len(group))
		row[idCol] = parquet.ByteArrayValue([]byte(c.ID)).Level(0, 0, idCol)
		row[splitCol] = parquet.ByteArrayValue([]byte(clv.SplitOf(c.ID).String())).Level(0, 0, splitCol)
		for j, v := range c.Features {
			row[feat[j]] = parquet.FloatValue(v).Level(0, 0, feat[j])
		}
		if labels {
			row[spendCol] = parquet.DoubleValue(c.HoldoutSpend).Level(0, 0, spendCol)
			row[buysCol] = parquet.Int64Value(int64(c.HoldoutPurchases)).Level(0, 0, buysCol)
		}
		if rows = append(rows, row); len(rows) == cap(rows) {
			if err := flush(); err != nil {
				return fmt.Errorf("features: write parquet: %w", err)
			}
		}
		if (i+1)%featuresRowGroup == 0 {
			if err := pw.Flush(); err != nil {
				return fmt.Errorf("features: write parquet: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("features: write parquet: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("features: write parquet: %w", err)
	}
	return nil
}
