// gorilla: the goroutine-per-connection contrast to gnet (BENCH.md "peers").
// net/http + gorilla/websocket, a hub per room (the upgrade path is the room),
// one reader and one writer goroutine per connection, a bounded send channel
// per connection (a client whose channel is full is dropped, as in gorilla's
// own chat example). Every message goes to every member of its room, the
// sender included, with the same opcode. No per-message logging.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
)

type client struct {
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
	room *room
}

type room struct {
	mu      sync.RWMutex
	clients map[*client]struct{}
}

type hub struct {
	mu    sync.Mutex
	rooms map[string]*room
}

func (h *hub) join(path string, c *client) *room {
	h.mu.Lock()
	r := h.rooms[path]
	if r == nil {
		r = &room{clients: make(map[*client]struct{})}
		h.rooms[path] = r
	}
	h.mu.Unlock()
	r.mu.Lock()
	r.clients[c] = struct{}{}
	r.mu.Unlock()
	return r
}

func (r *room) leave(c *client) {
	r.mu.Lock()
	if _, ok := r.clients[c]; ok {
		delete(r.clients, c)
		close(c.send)
	}
	r.mu.Unlock()
}

func (r *room) broadcast(pm *websocket.PreparedMessage) {
	var slow []*client
	r.mu.RLock()
	for c := range r.clients {
		select {
		case c.send <- pm:
		default:
			slow = append(slow, c)
		}
	}
	r.mu.RUnlock()
	for _, c := range slow {
		r.leave(c)
	}
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
	CheckOrigin:     func(*http.Request) bool { return true },
}

func main() {
	port := flag.Int("port", 9002, "listen port")
	bind := flag.String("bind", "127.0.0.1", "listen address")
	queue := flag.Int("queue", 256, "messages queued per connection before it is dropped")
	flag.Parse()
	h := &hub{rooms: make(map[string]*room)}
	http.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		conn, err := upgrader.Upgrade(w, req, nil)
		if err != nil {
			return
		}
		c := &client{conn: conn, send: make(chan *websocket.PreparedMessage, *queue)}
		c.room = h.join(req.URL.Path, c)
		go func() { // writer
			for pm := range c.send {
				if err := conn.WritePreparedMessage(pm); err != nil {
					break
				}
			}
			conn.Close()
		}()
		go func() { // reader
			defer func() { c.room.leave(c); conn.Close() }()
			for {
				op, msg, err := conn.ReadMessage()
				if err != nil {
					return
				}
				pm, err := websocket.NewPreparedMessage(op, msg)
				if err != nil {
					return
				}
				c.room.broadcast(pm)
			}
		}()
	})
	addr := fmt.Sprintf("%s:%d", *bind, *port)
	log.Printf("gorilla broadcast server on ws://%s/", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
