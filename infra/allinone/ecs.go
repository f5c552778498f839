package allinone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ECSDeliveryURL returns the delivery URL of a proxy in an ECS task, for
// -delivery-url config.DeliveryURLAutoECS:
// http://IP:PORT, IP the first IPv4 address of the container's first
// network, as the container metadata at metadataURI lists it, and PORT
// the port of deliveryAddr.
func ECSDeliveryURL(ctx context.Context, client *http.Client, metadataURI, deliveryAddr string) (string, error) {
	if metadataURI == "" {
		return "", errors.New("-delivery-url auto-ecs: ECS_CONTAINER_METADATA_URI_V4 is not set (not running on ECS)")
	}
	_, port, err := net.SplitHostPort(deliveryAddr)
	if err != nil || port == "" || port == "0" {
		return "", fmt.Errorf("-delivery-url auto-ecs: -delivery-addr %q needs a fixed port", deliveryAddr)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metadataURI, nil)
	if err != nil {
		return "", fmt.Errorf("-delivery-url auto-ecs: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("-delivery-url auto-ecs: task metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("-delivery-url auto-ecs: task metadata: %s", resp.Status)
	}
	var md struct {
		Networks []struct {
			IPv4Addresses []string `json:"IPv4Addresses"`
		} `json:"Networks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		return "", fmt.Errorf("-delivery-url auto-ecs: task metadata: %w", err)
	}
	for _, n := range md.Networks {
		for _, a := range n.IPv4Addresses {
			if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
				return "http://" + net.JoinHostPort(ip.String(), port), nil
			}
		}
	}
	return "", errors.New("-delivery-url auto-ecs: the task metadata lists no IPv4 address")
}
