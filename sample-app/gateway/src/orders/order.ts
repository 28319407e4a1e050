/** An order as the orders service returns it. */
export interface Order {
  id: number;
  item: string;
  quantity: number;
  status: 'placed' | 'cancelled';
  createdAt: string;
}
