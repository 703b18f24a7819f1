/** The tables the README's snippets read: users, the city each lives in, and sensor readings. */
export interface Database {
  users: { user_id: number; name: string; created_at: Date };
  cities: { city_id: number; name: string };
  users_cities: { user_id: number; city_id: number };
  readings: { data_id: number; device_id: string; ts: Date; value: number };
}
