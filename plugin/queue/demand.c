/* demand.c - see demand.h. */
#include "demand.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

char *ooblex_demand_encode(const ooblex_queue_demand *d, size_t n) {
	json_t *queues = json_object();
	for(size_t i = 0; i < n && i < OOBLEX_DEMAND_MAX_QUEUES; i++)
		json_object_set_new(queues, d[i].queue, json_pack("{sisf}", "clients", (int)d[i].clients, "demand", d[i].demand));
	json_t *root = json_pack("{so}", "queues", queues);
	char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	return text;
}

GHashTable *ooblex_demand_table_new(void) {
	return g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
}

size_t ooblex_demand_add(GHashTable *by_queue, const char *text, size_t len) {
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *queues = json_object_get(root, "queues");
	const char *name;
	json_t *v;
	size_t added = 0, seen = 0;
	json_object_foreach(queues, name, v) {
		if(++seen > OOBLEX_DEMAND_MAX_QUEUES)
			break;
		json_t *c = json_object_get(v, "clients"), *dm = json_object_get(v, "demand");
		json_int_t clients = json_is_integer(c) ? json_integer_value(c) : 0;
		double demand = json_is_number(dm) ? json_number_value(dm) : -1;
		if(strlen(name) == 0 || strlen(name) >= OOBLEX_KEY_MAX || clients <= 0 || clients > OOBLEX_DEMAND_MAX_CLIENTS ||
				!(demand >= 0 && demand < OOBLEX_DEMAND_MAX_WORKERS))
			continue;
		ooblex_queue_demand *d = g_hash_table_lookup(by_queue, name);
		if(d == NULL) {
			d = g_malloc0(sizeof(*d));
			g_strlcpy(d->queue, name, sizeof(d->queue));
			g_hash_table_insert(by_queue, d->queue, d);
		}
		d->clients += (unsigned)clients;
		d->demand += demand;
		added++;
	}
	json_decref(root);
	return added;
}
