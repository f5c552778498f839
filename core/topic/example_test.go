package topic_test

import (
	"errors"
	"fmt"
	"slices"

	"github.com/mqttless/mqttless/core/topic"
)

func ExampleValidateFilter() {
	for _, f := range []string{"sport/+/player1/#", "sport/tennis#", "$share//a"} {
		err := topic.ValidateFilter(f)
		fmt.Println(f, err == nil, errors.Is(err, topic.ErrInvalidWildcard), errors.Is(err, topic.ErrInvalidShare))
	}
	// Output:
	// sport/+/player1/# true false false
	// sport/tennis# false true false
	// $share//a false false true
}

func ExampleMatch() {
	fmt.Println(topic.Match("sport/tennis/player1/#", "sport/tennis/player1"))
	fmt.Println(topic.Match("sport/+", "sport"))
	fmt.Println(topic.Match("#", "$SYS/broker/uptime"))
	// Output:
	// true
	// false
	// false
}

func ExampleIndex() {
	ix := topic.NewIndex[byte]() // the value here is the granted QoS
	ix.Add("sport/tennis/+", "alice", 1)
	ix.Add("sport/#", "bob", 0)
	ix.Add("$share/workers/sport/tennis/#", "carol", 2)
	ix.Add("news/#", "dave", 1)

	var got []string
	ix.Match("sport/tennis/player1", func(e *topic.Entry[byte]) bool {
		got = append(got, fmt.Sprintf("%s qos=%d group=%q", e.Key, e.Value, e.Group))
		return true
	})
	slices.Sort(got)
	for _, s := range got {
		fmt.Println(s)
	}
	// Output:
	// alice qos=1 group=""
	// bob qos=0 group=""
	// carol qos=2 group="workers"
}
